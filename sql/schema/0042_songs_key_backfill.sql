-- songsdb:no-transaction
/* 0042 - numbers the songs stored before 0041, in batches of at most 4000 rows.

   Walks dbo.Songs once in Id order (the clustered key until 0045: each batch is a range seek),
   4000 ids at a time, and gives each of them that still has no SongKey the next dbo.SongKeys
   number. Each UPDATE is its own short transaction writing at most 4000 rows, below the 5,000
   locks at which SQL Server escalates to a table lock, so web and worker calls go on meanwhile;
   songs inserted meanwhile already have their key from 0041's default and are left alone (the
   UPDATE's own WHERE SongKey IS NULL; ids walked past are never revisited). Old songs get numbers
   above the first new ones: the key is unique and internal, its order only matters to where a
   new row goes in the clustered index, which is always at the end from now on.

   NEXT VALUE FOR cannot be used in a statement with TOP (NEXT VALUE FOR (Transact-SQL), "Limitations
   and restrictions"), so each batch's ids are staged in a table variable first and the UPDATE joins
   to them. Run again after an interruption, it numbers only what is still NULL. The same code runs
   on Babelfish (measured: the join update takes NEXT VALUE FOR there too). */
SET NOCOUNT ON;
DECLARE @Batch TABLE (Id uniqueidentifier NOT NULL PRIMARY KEY);
DECLARE @After uniqueidentifier = NULL;
DECLARE @Rows int = 1;
WHILE @Rows > 0
BEGIN
    DELETE FROM @Batch;
    IF @After IS NULL
        INSERT INTO @Batch (Id)
        SELECT TOP (4000) s.Id FROM dbo.Songs AS s ORDER BY s.Id;
    ELSE
        INSERT INTO @Batch (Id)
        SELECT TOP (4000) s.Id FROM dbo.Songs AS s WHERE s.Id > @After ORDER BY s.Id;
    SET @Rows = @@ROWCOUNT;
    IF @Rows > 0
    BEGIN
        SET @After = (SELECT TOP (1) b.Id FROM @Batch AS b ORDER BY b.Id DESC);
        UPDATE s
        SET SongKey = NEXT VALUE FOR dbo.SongKeys
        FROM dbo.Songs AS s
        INNER JOIN @Batch AS b
            ON b.Id = s.Id
        WHERE s.SongKey IS NULL;
    END;
END;
GO
