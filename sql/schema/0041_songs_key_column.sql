-- songsdb:no-transaction
/* 0041 - dbo.Songs.SongKey: a nullable bigint whose default is the next dbo.SongKeys number.

   From this script on, every song inserted (api.CreateSong, api.ImportSongs, anything that inserts
   without naming the column) gets its key from the default, with no change to any procedure or to
   the client. Songs stored before keep NULL until 0042 numbers them.

   Online on both engines: two catalog changes, no row read or written.
   - SQL Server: a NULL column without a default value to store is metadata-only, and so is a DEFAULT
     constraint added to an existing column: it applies to later inserts only (ALTER TABLE
     (Transact-SQL), "Locks and ALTER TABLE"; a default fills existing rows only WITH VALUES). The
     Sch-M lock is held for the moment of the catalog change; the deployment's SET LOCK_TIMEOUT
     bounds the wait for it.
   - Babelfish (PostgreSQL): ADD COLUMN without a default changes the catalog only; SET DEFAULT
     (what ADD CONSTRAINT ... DEFAULT ... FOR becomes) never touches existing rows. The column and
     its default are added in two statements because PostgreSQL fills every existing row when a
     column is added with a volatile default such as nextval(), rewriting the table.
   Without a transaction (two changes to one table: the linter's several-ddl-in-transaction rule),
   each statement guarded, so a deploy stopped between them completes on the next run; a song
   inserted between them keeps NULL and is numbered by 0042. */
IF COL_LENGTH(N'dbo.Songs', N'SongKey') IS NULL
    ALTER TABLE dbo.Songs ADD SongKey bigint NULL;
GO
IF NOT EXISTS (
    SELECT 1
    FROM sys.default_constraints AS d
    WHERE d.parent_object_id = OBJECT_ID(N'dbo.Songs')
        AND d.parent_column_id = COLUMNPROPERTY(OBJECT_ID(N'dbo.Songs'), N'SongKey', 'ColumnId')
)
    ALTER TABLE dbo.Songs ADD CONSTRAINT DF_Songs_SongKey DEFAULT (NEXT VALUE FOR dbo.SongKeys) FOR SongKey;
GO
