/* 0005 - dbo.AuditLog: who did what to which entity, correlated by the
   X-Request-ID of the web request. Written by the same procedure, in the
   same transaction, as the change it records. Details is a JSON object. */
CREATE TABLE dbo.AuditLog
(
    Id bigint IDENTITY (1, 1) NOT NULL,
    RequestId nvarchar(100) NULL,
    EntityType varchar(20) NOT NULL,
    EntityId nvarchar(100) NULL,
    Action varchar(20) NOT NULL,
    UserId nvarchar(100) NULL,
    IpAddress varchar(45) NULL,
    UserAgent nvarchar(500) NULL,
    Details nvarchar(max) NULL,
    [Timestamp] datetime2(3) NOT NULL
        CONSTRAINT DF_AuditLog_Timestamp DEFAULT (SYSUTCDATETIME()),
    CONSTRAINT PK_AuditLog PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT CK_AuditLog_EntityType CHECK (
        EntityType IN ('song', 'job', 'track', 'transcription', 'chroma', 'system')
    ),
    CONSTRAINT CK_AuditLog_Action CHECK (
        Action IN (
            'created', 'updated', 'deleted', 'processed', 'status_changed', 'claimed',
            'completed', 'failed', 'cancelled', 'retried', 'cleaned_up', 'viewed', 'downloaded'
        )
    ),
    CONSTRAINT CK_AuditLog_Details CHECK (ISJSON(Details) = 1)
);
GO
CREATE INDEX IX_AuditLog_RequestId ON dbo.AuditLog (RequestId)
    WHERE RequestId IS NOT NULL;
GO
CREATE INDEX IX_AuditLog_EntityType_EntityId ON dbo.AuditLog (EntityType, EntityId, Id);
GO
CREATE INDEX IX_AuditLog_Timestamp ON dbo.AuditLog ([Timestamp]);
GO
