/* 0045 - PK_Songs moves to SongKey (clustered); the four foreign keys to dbo.Songs (Id) move to UQ_Songs_Id.

   The last step of 0040-0046: dbo.Songs ends up as dbo.ProcessingJobs is, PK_Songs PRIMARY KEY
   CLUSTERED (SongKey), Id unique under UQ_Songs_Id (0044), and FK_ProcessingJobs_Songs,
   FK_SeparatedTracks_Songs, FK_Transcriptions_Songs and FK_ChromaAnalysis_Songs referencing
   dbo.Songs (Id) as before. Every row, every id and every lookup by Id stays as it was.

   Why this step is in one transaction, and offline, on every engine:
   - The clustered index is PK_Songs's, and a primary key constraint cannot be changed in place:
     CREATE INDEX ... WITH (DROP_EXISTING = ON) rebuilds an index under its own name but refuses to
     change one that enforces a constraint. So PK_Songs is dropped (the table becomes a heap) and
     added again on SongKey (the table is clustered again): two rewrites of the table and of its
     nonclustered indexes.
   - The foreign keys are bound to PK_Songs's index (a foreign key binds to one physical unique
     index when it is created, and blocks that index's drop), so they must be dropped first and
     created again. Which unique index a foreign key binds to when several cover its columns is
     undocumented on SQL Server (it tends to take the smallest), and Babelfish was measured to bind
     a re-created foreign key to the primary key's index again. So they are created again only
     after PK_Songs is gone, when UQ_Songs_Id is the one unique index on Id: the binding is then
     certain on both engines.
   - Online on Enterprise would mean dropping the foreign keys, rebuilding online, and adding them
     back: for the whole rebuild no foreign key guards dbo.Songs, and a song deleted while a job is
     created for it would leave an orphan. In one transaction nothing can slip in between: the
     Sch-M locks on dbo.Songs and the four result tables (ACCESS EXCLUSIVE on Babelfish) keep
     readers and writers of those tables waiting until the commit, and the rewrites are what they
     wait for.
   That is a moment on a table of a few thousand songs, and the issue's premise is that songsdb is
   deployed before production data is loaded. So this script runs on a table of at most 10,000
   songs, and on a larger one stops the deploy with a message, before it changes anything. The
   runbook for a populated database (README, "Songs' internal key"): in a maintenance window, with
   the services stopped, run the statements of the IF block below by hand, in one transaction,
   then deploy again: this script finds PK_Songs on SongKey and does nothing.

   On SQL Server the foreign keys are added WITH NOCHECK: inside this transaction the rows cannot
   have changed since the old constraints checked them, and new rows are checked at once; 0046
   validates them (is_not_trusted = 0) separately. Babelfish has no WITH NOCHECK (error 33557097
   without an escape hatch); PostgreSQL validates each foreign key as it is added, reading the
   result table once, which on a table this size is part of the same moment. */
IF NOT EXISTS (
    SELECT 1
    FROM sys.indexes AS i
    INNER JOIN sys.index_columns AS c
        ON c.object_id = i.object_id AND c.index_id = i.index_id
    WHERE i.object_id = OBJECT_ID(N'dbo.Songs') AND i.is_primary_key = 1
        AND c.key_ordinal = 1 AND COL_NAME(c.object_id, c.column_id) = N'SongKey'
)
BEGIN
    IF (SELECT COUNT_BIG(*) FROM (SELECT TOP (10001) 1 AS One FROM dbo.Songs) AS s) > 10000
    BEGIN
        RAISERROR (N'0045: dbo.Songs holds more than 10,000 songs; moving its clustered primary key rewrites it while songs and their jobs and results wait. In a maintenance window, with the services stopped, run this script''s statements by hand in one transaction, then deploy again (README, "Songs'' internal key").', 16, 1);
        RETURN;
    END;

    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.ProcessingJobs DROP CONSTRAINT FK_ProcessingJobs_Songs;
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.SeparatedTracks DROP CONSTRAINT FK_SeparatedTracks_Songs;
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.Transcriptions DROP CONSTRAINT FK_Transcriptions_Songs;
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.ChromaAnalysis DROP CONSTRAINT FK_ChromaAnalysis_Songs;
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.Songs DROP CONSTRAINT PK_Songs;

    -- songsdb:lint-ok several-ddl-in-transaction,index-in-transaction one atomic re-key: the foreign keys must be absent while it builds, so no foreign key is ever missing outside this transaction; at most 10,000 songs (header)
    ALTER TABLE dbo.Songs ADD CONSTRAINT PK_Songs PRIMARY KEY CLUSTERED (SongKey); -- songsdb:lint-ok offline-index cannot be online without an integrity gap (header); at most 10,000 songs

{%- set nocheck = "WITH NOCHECK " if engine == "sqlserver" else "" %}
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.ProcessingJobs {{ nocheck }}ADD CONSTRAINT FK_ProcessingJobs_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id); -- songsdb:lint-ok check-constraint-with-check Babelfish has no WITH NOCHECK; at most 10,000 songs (header)
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.SeparatedTracks {{ nocheck }}ADD CONSTRAINT FK_SeparatedTracks_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id); -- songsdb:lint-ok check-constraint-with-check Babelfish has no WITH NOCHECK; at most 10,000 songs (header)
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.Transcriptions {{ nocheck }}ADD CONSTRAINT FK_Transcriptions_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id); -- songsdb:lint-ok check-constraint-with-check Babelfish has no WITH NOCHECK; at most 10,000 songs (header)
    -- songsdb:lint-ok several-ddl-in-transaction one atomic re-key of dbo.Songs, run only on a table of at most 10,000 songs (header)
    ALTER TABLE dbo.ChromaAnalysis {{ nocheck }}ADD CONSTRAINT FK_ChromaAnalysis_Songs FOREIGN KEY (SongId) REFERENCES dbo.Songs (Id); -- songsdb:lint-ok check-constraint-with-check Babelfish has no WITH NOCHECK; at most 10,000 songs (header)
END;
GO
