/* 0003 - dbo.ProcessingJobs: one row per requested model run on a song.

   Id is the internal clustered key (it also orders the queue); JobId is the
   public identifier the API hands out. RequestId is the X-Request-ID of the
   call that created or last changed the job. Priority (higher first),
   Attempts, MaxAttempts and AvailableAt (not before; for retry back-off)
   serve the work queue. Status moves queued -> running -> completed | failed,
   and queued | running | failed -> cancelled; failed -> queued on a retry. */
CREATE TABLE dbo.ProcessingJobs
(
    Id bigint IDENTITY (1, 1) NOT NULL,
    JobId uniqueidentifier NOT NULL
        CONSTRAINT DF_ProcessingJobs_JobId DEFAULT (NEWID()),
    SongId uniqueidentifier NOT NULL,
    ModelName nvarchar(50) NOT NULL,
    JobType varchar(20) NOT NULL,
    Status varchar(20) NOT NULL
        CONSTRAINT DF_ProcessingJobs_Status DEFAULT ('queued'),
    Progress tinyint NOT NULL
        CONSTRAINT DF_ProcessingJobs_Progress DEFAULT (0),
    Message nvarchar(1000) NULL,
    RequestId nvarchar(100) NULL,
    Priority int NOT NULL
        CONSTRAINT DF_ProcessingJobs_Priority DEFAULT (0),
    Attempts int NOT NULL
        CONSTRAINT DF_ProcessingJobs_Attempts DEFAULT (0),
    MaxAttempts int NOT NULL
        CONSTRAINT DF_ProcessingJobs_MaxAttempts DEFAULT (3),
    CreatedAt datetime2(3) NOT NULL
        CONSTRAINT DF_ProcessingJobs_CreatedAt DEFAULT (SYSUTCDATETIME()),
    AvailableAt datetime2(3) NOT NULL
        CONSTRAINT DF_ProcessingJobs_AvailableAt DEFAULT (SYSUTCDATETIME()),
    UpdatedAt datetime2(3) NOT NULL
        CONSTRAINT DF_ProcessingJobs_UpdatedAt DEFAULT (SYSUTCDATETIME()),
    StartedAt datetime2(3) NULL,
    CompletedAt datetime2(3) NULL,
    ErrorMessage nvarchar(4000) NULL,
    ErrorStack nvarchar(max) NULL,
    ResultMetadata nvarchar(max) NULL,
    CONSTRAINT PK_ProcessingJobs PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT UQ_ProcessingJobs_JobId UNIQUE (JobId),
    CONSTRAINT FK_ProcessingJobs_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id),
    CONSTRAINT CK_ProcessingJobs_ModelName CHECK (LEN(ModelName) > 0),
    CONSTRAINT CK_ProcessingJobs_JobType CHECK (JobType IN ('separation', 'transcription', 'chroma')),
    CONSTRAINT CK_ProcessingJobs_Status CHECK (
        Status IN ('queued', 'running', 'completed', 'failed', 'cancelled')
    ),
    CONSTRAINT CK_ProcessingJobs_Progress CHECK (Progress BETWEEN 0 AND 100),
    CONSTRAINT CK_ProcessingJobs_Attempts CHECK (Attempts >= 0),
    CONSTRAINT CK_ProcessingJobs_MaxAttempts CHECK (MaxAttempts BETWEEN 1 AND 100),
    CONSTRAINT CK_ProcessingJobs_ResultMetadata CHECK (ISJSON(ResultMetadata) = 1)
);
GO
CREATE INDEX IX_ProcessingJobs_SongId ON dbo.ProcessingJobs (SongId);
GO
CREATE INDEX IX_ProcessingJobs_Status_Priority ON dbo.ProcessingJobs (Status, Priority DESC, Id)
    INCLUDE (JobType, ModelName, AvailableAt);
GO
CREATE INDEX IX_ProcessingJobs_Status_CompletedAt ON dbo.ProcessingJobs (Status, CompletedAt);
GO
CREATE INDEX IX_ProcessingJobs_RequestId ON dbo.ProcessingJobs (RequestId)
    WHERE RequestId IS NOT NULL;
GO
