-- songsdb:no-transaction
/* 0044 - UQ_Songs_Id: the public Id gets a unique nonclustered constraint of its own.

   Once 0045 moves the clustered primary key to SongKey, this is what keeps Id unique, serves every
   lookup by Id (api.GetSong, core.ReturnSong, core.CheckSong, the joins from jobs and results) and
   is what the four foreign keys to dbo.Songs (Id) reference. It is built now, while PK_Songs still
   holds Id, so 0045 has nothing left to build for it. As a constraint rather than a unique index so
   its name is the same in every catalog (Babelfish keeps constraint names, but suffixes index names).

   One index, built without a transaction (a RESUMABLE build cannot run in one), and online where
   the edition builds online: SERVERPROPERTY('EngineEdition') 3 (Enterprise, Developer), 5 (Azure
   SQL Database), 8 (Managed Instance). SQL Server 2022+ and Azure also make it RESUMABLE
   (ALTER TABLE ... ADD CONSTRAINT ... WITH (ONLINE = ON, RESUMABLE = ON): "Resumable add table
   constraints", SQL Server 2022+, PRIMARY KEY and UNIQUE only): a build stopped by a failover is
   resumed by running this script again (ALTER INDEX ... RESUME while
   sys.index_resumable_operations lists it). WAIT_AT_LOW_PRIORITY is not an ALTER TABLE ... ADD
   CONSTRAINT option; the deployment's SET LOCK_TIMEOUT bounds the wait for the short locks at its
   start and end instead. Other editions build it offline, reading the table once under a shared
   lock (song writes wait): deploy this script in a quiet window there. Babelfish (PostgreSQL)
   builds a unique btree index; it has no online build in T-SQL. */
{% if engine == "sqlserver" %}
IF EXISTS (
    SELECT 1 FROM sys.index_resumable_operations AS r
    WHERE r.object_id = OBJECT_ID(N'dbo.Songs') AND r.name = N'UQ_Songs_Id'
)
    EXEC (N'ALTER INDEX UQ_Songs_Id ON dbo.Songs RESUME;');
ELSE IF OBJECT_ID(N'dbo.UQ_Songs_Id', N'UQ') IS NULL
BEGIN
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'ALTER TABLE dbo.Songs ADD CONSTRAINT UQ_Songs_Id UNIQUE NONCLUSTERED (Id)
            WITH (ONLINE = ON, RESUMABLE = ON, MAX_DURATION = 240 MINUTES);');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'ALTER TABLE dbo.Songs ADD CONSTRAINT UQ_Songs_Id UNIQUE NONCLUSTERED (Id) WITH (ONLINE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read of dbo.Songs under a shared lock, deployed in a quiet window (header)
        ALTER TABLE dbo.Songs ADD CONSTRAINT UQ_Songs_Id UNIQUE NONCLUSTERED (Id);
END;
{% else %}
IF OBJECT_ID(N'dbo.UQ_Songs_Id', N'UQ') IS NULL
    ALTER TABLE dbo.Songs ADD CONSTRAINT UQ_Songs_Id UNIQUE NONCLUSTERED (Id);
{% endif %}
GO
