/* 0004 - what the models produce, each row tied to its song and (for stems,
   always; otherwise optionally) to the job that produced it.

   dbo.SeparatedTracks : stems from a separation job (demucs), one per stem name.
   dbo.Transcriptions  : whisper output; Segments is a JSON array of timed segments.
   dbo.ChromaAnalysis  : key, mode and tempo with confidences; ChromaVector is a
                         JSON array of 12 numbers (C .. B). */
CREATE TABLE dbo.SeparatedTracks
(
    Id bigint IDENTITY (1, 1) NOT NULL,
    SongId uniqueidentifier NOT NULL,
    JobId uniqueidentifier NOT NULL,
    StemName nvarchar(50) NOT NULL,
    FilePath nvarchar(1000) NOT NULL,
    FileSize bigint NULL,
    Format varchar(16) NULL,
    SampleRate int NULL,
    Duration float NULL,
    CreatedAt datetime2(3) NOT NULL
        CONSTRAINT DF_SeparatedTracks_CreatedAt DEFAULT (SYSUTCDATETIME()),
    CONSTRAINT PK_SeparatedTracks PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT FK_SeparatedTracks_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id),
    CONSTRAINT FK_SeparatedTracks_ProcessingJobs FOREIGN KEY (JobId)
        REFERENCES dbo.ProcessingJobs (JobId),
    CONSTRAINT UQ_SeparatedTracks_JobId_StemName UNIQUE (JobId, StemName),
    CONSTRAINT CK_SeparatedTracks_StemName CHECK (LEN(StemName) > 0),
    CONSTRAINT CK_SeparatedTracks_FilePath CHECK (LEN(FilePath) > 0),
    CONSTRAINT CK_SeparatedTracks_FileSize CHECK (FileSize >= 0),
    CONSTRAINT CK_SeparatedTracks_SampleRate CHECK (SampleRate > 0),
    CONSTRAINT CK_SeparatedTracks_Duration CHECK (Duration >= 0)
);
GO
CREATE INDEX IX_SeparatedTracks_SongId ON dbo.SeparatedTracks (SongId);
GO
CREATE TABLE dbo.Transcriptions
(
    Id bigint IDENTITY (1, 1) NOT NULL,
    SongId uniqueidentifier NOT NULL,
    JobId uniqueidentifier NULL,
    Language nvarchar(20) NULL,
    FullText nvarchar(max) NULL,
    Segments nvarchar(max) NULL,
    ModelName nvarchar(50) NULL,
    CreatedAt datetime2(3) NOT NULL
        CONSTRAINT DF_Transcriptions_CreatedAt DEFAULT (SYSUTCDATETIME()),
    CONSTRAINT PK_Transcriptions PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT FK_Transcriptions_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id),
    CONSTRAINT FK_Transcriptions_ProcessingJobs FOREIGN KEY (JobId)
        REFERENCES dbo.ProcessingJobs (JobId),
    CONSTRAINT CK_Transcriptions_Segments CHECK (ISJSON(Segments) = 1)
);
GO
CREATE INDEX IX_Transcriptions_SongId ON dbo.Transcriptions (SongId);
GO
CREATE INDEX IX_Transcriptions_JobId ON dbo.Transcriptions (JobId);
GO
CREATE TABLE dbo.ChromaAnalysis
(
    Id bigint IDENTITY (1, 1) NOT NULL,
    SongId uniqueidentifier NOT NULL,
    JobId uniqueidentifier NULL,
    KeyName varchar(2) NULL,
    Mode varchar(5) NULL,
    Tempo float NULL,
    KeyConfidence float NULL,
    TempoConfidence float NULL,
    ChromaVector nvarchar(max) NULL,
    CreatedAt datetime2(3) NOT NULL
        CONSTRAINT DF_ChromaAnalysis_CreatedAt DEFAULT (SYSUTCDATETIME()),
    CONSTRAINT PK_ChromaAnalysis PRIMARY KEY CLUSTERED (Id),
    CONSTRAINT FK_ChromaAnalysis_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id),
    CONSTRAINT FK_ChromaAnalysis_ProcessingJobs FOREIGN KEY (JobId)
        REFERENCES dbo.ProcessingJobs (JobId),
    CONSTRAINT CK_ChromaAnalysis_KeyName CHECK (
        KeyName IN ('C', 'C#', 'Db', 'D', 'D#', 'Eb', 'E', 'F', 'F#', 'Gb', 'G', 'G#', 'Ab', 'A', 'A#', 'Bb', 'B')
    ),
    CONSTRAINT CK_ChromaAnalysis_Mode CHECK (Mode IN ('major', 'minor')),
    CONSTRAINT CK_ChromaAnalysis_Tempo CHECK (Tempo > 0 AND Tempo < 1000),
    CONSTRAINT CK_ChromaAnalysis_KeyConfidence CHECK (KeyConfidence BETWEEN 0 AND 1),
    CONSTRAINT CK_ChromaAnalysis_TempoConfidence CHECK (TempoConfidence BETWEEN 0 AND 1),
    CONSTRAINT CK_ChromaAnalysis_ChromaVector CHECK (ISJSON(ChromaVector) = 1)
);
GO
CREATE INDEX IX_ChromaAnalysis_SongId ON dbo.ChromaAnalysis (SongId);
GO
CREATE INDEX IX_ChromaAnalysis_JobId ON dbo.ChromaAnalysis (JobId);
GO
