/* 0002 - dbo.Songs: one row per uploaded audio file.
   FileId is the separator backend's file identifier; Duration is in seconds;
   Metadata is a JSON object; times are UTC. */
CREATE TABLE dbo.Songs
(
    Id uniqueidentifier NOT NULL
        CONSTRAINT DF_Songs_Id DEFAULT (NEWSEQUENTIALID()),
    FileId nvarchar(100) NOT NULL,
    Title nvarchar(400) NULL,
    Artist nvarchar(400) NULL,
    Album nvarchar(400) NULL,
    FileName nvarchar(260) NOT NULL,
    OriginalFileName nvarchar(260) NULL,
    FileSize bigint NULL,
    Duration float NULL,
    FileExtension nvarchar(16) NULL,
    UploadedAt datetime2(3) NOT NULL
        CONSTRAINT DF_Songs_UploadedAt DEFAULT (SYSUTCDATETIME()),
    LastModified datetime2(3) NOT NULL
        CONSTRAINT DF_Songs_LastModified DEFAULT (SYSUTCDATETIME()),
    Metadata nvarchar(max) NULL,
    Status varchar(20) NOT NULL
        CONSTRAINT DF_Songs_Status DEFAULT ('uploaded'),
    CONSTRAINT PK_Songs PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT UQ_Songs_FileId UNIQUE (FileId),
    CONSTRAINT CK_Songs_FileId CHECK (LEN(FileId) > 0),
    CONSTRAINT CK_Songs_FileName CHECK (LEN(FileName) > 0),
    CONSTRAINT CK_Songs_FileSize CHECK (FileSize >= 0),
    CONSTRAINT CK_Songs_Duration CHECK (Duration >= 0),
    CONSTRAINT CK_Songs_Metadata CHECK (ISJSON(Metadata) = 1),
    CONSTRAINT CK_Songs_Status CHECK (Status IN ('uploaded', 'processing', 'completed', 'failed'))
);
GO
CREATE INDEX IX_Songs_Status_UploadedAt ON dbo.Songs (Status, UploadedAt);
GO
CREATE INDEX IX_Songs_Artist ON dbo.Songs (Artist);
GO
