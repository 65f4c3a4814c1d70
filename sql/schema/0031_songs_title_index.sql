-- songsdb:no-transaction
/* 0031 - songs by title: the console's song search.

   ops.FindSongs finds a song by its file id (UQ_Songs_FileId) or by the start of its title, in
   title order, keyset paged (Title, Id). No index had Title as a key, so a title search scanned
   dbo.Songs. Not filtered: titles may be NULL, and such songs are never found by title.

   One index, built without a transaction and online where the edition can (the pattern of 0016:
   SERVERPROPERTY('EngineEdition') 3, 5, 8: ONLINE = ON, RESUMABLE = ON, and on SQL Server 2022+ and
   Azure WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF), so the
   application's queries go first and a stopped build is resumed by running the script again; other
   editions build it offline under a shared lock: deploy it in a quiet window there). Title is
   nvarchar(400): 800 bytes, inside SQL Server's 1,700-byte key limit for a nonclustered index.
   Babelfish (PostgreSQL) builds it as a partial index. */
{% if engine == "sqlserver" %}
IF
    NOT EXISTS (
        SELECT 1 FROM sys.indexes AS i
        WHERE i.object_id = OBJECT_ID(N'dbo.Songs') AND i.name = N'IX_Songs_Title'
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.Songs') AND r.name = N'IX_Songs_Title'
    )
BEGIN
    -- Online builds only where the edition has them: EngineEdition 3 (Enterprise, Developer), 5, 8 (Azure);
    -- WAIT_AT_LOW_PRIORITY for CREATE INDEX from SQL Server 2022 (16) and on Azure. Standard and Express build offline.
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)
        EXEC (N'CREATE INDEX IX_Songs_Title ON dbo.Songs (Title, Id)
            WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)), RESUMABLE = ON);');
    ELSE IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3
        EXEC (N'CREATE INDEX IX_Songs_Title ON dbo.Songs (Title, Id)
            WITH (ONLINE = ON, RESUMABLE = ON);');
    ELSE
        -- songsdb:lint-ok offline-index Standard and Express have no online index build: one read under a shared lock, deployed in a quiet window (header)
        CREATE INDEX IX_Songs_Title ON dbo.Songs (Title, Id);
END;
{% else %}
CREATE INDEX IX_Songs_Title ON dbo.Songs (Title, Id);
{% endif %}
GO
