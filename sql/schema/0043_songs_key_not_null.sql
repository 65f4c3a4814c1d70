-- songsdb:no-transaction
/* 0043 - dbo.Songs.SongKey becomes NOT NULL (SQL Server), so that 0045 can make it the primary key.

   After 0042 no row has a NULL key, and 0041's default gives every new row one.
   - SQL Server, EngineEdition 3 (Enterprise, Developer), 5 (Azure SQL Database), 8 (Managed
     Instance): ALTER COLUMN ... NOT NULL WITH (ONLINE = ON) (SQL Server 2016+; ALTER TABLE
     (Transact-SQL), "WITH ( ONLINE = ON | OFF ) <as applies to altering a column>"): readers and
     writers go on while every row is checked; a short Sch-M lock at the end.
   - Other editions (Standard, Express) have no online ALTER COLUMN: the check reads every row
     under a Sch-M lock (no reader, no writer). On a table of at most 10,000 songs that is a moment,
     and it runs; on a larger one this script stops the deploy with a message instead. Run it then
     in a maintenance window, by hand:
       ALTER TABLE dbo.Songs ALTER COLUMN SongKey bigint NOT NULL;
     and deploy again: this script finds the column NOT NULL and does nothing. songsdb is deployed
     before any production data is loaded (issue #18), so on those editions the guard is expected
     to find a small table.
   - Babelfish 4.2 refuses NOT NULL in ALTER COLUMN; there 0045's ADD PRIMARY KEY marks the column
     NOT NULL itself (PostgreSQL: "Adding a primary key will automatically create a unique btree
     index ... and force the column(s) to be marked NOT NULL"), so this renders a comment only. */
{% if engine == "sqlserver" %}
IF COLUMNPROPERTY(OBJECT_ID(N'dbo.Songs'), N'SongKey', 'AllowsNull') = 1
BEGIN
    IF EXISTS (SELECT 1 FROM dbo.Songs AS s WHERE s.SongKey IS NULL)
    BEGIN
        RAISERROR (N'0043: some songs in dbo.Songs have no SongKey yet: deploy again so that 0042 numbers them first.', 16, 1);
        RETURN;
    END;
    IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)
        EXEC (N'ALTER TABLE dbo.Songs ALTER COLUMN SongKey bigint NOT NULL WITH (ONLINE = ON);');
    ELSE IF (SELECT COUNT_BIG(*) FROM (SELECT TOP (10001) 1 AS One FROM dbo.Songs) AS s) <= 10000
        -- songsdb:lint-ok rewriting-alter-column no online ALTER COLUMN on this edition; run only on a table of at most 10,000 songs (header)
        ALTER TABLE dbo.Songs ALTER COLUMN SongKey bigint NOT NULL;
    ELSE
    BEGIN
        RAISERROR (N'0043: dbo.Songs holds more than 10,000 songs and this edition has no online ALTER COLUMN: in a maintenance window run ALTER TABLE dbo.Songs ALTER COLUMN SongKey bigint NOT NULL; then deploy again (README, "Songs'' internal key").', 16, 1);
        RETURN;
    END;
END;
{% else %}
-- Babelfish: 0045's ADD CONSTRAINT PK_Songs PRIMARY KEY (SongKey) marks the column NOT NULL.
{% endif %}
GO
