-- songsdb:no-transaction
/* 0019 - PK_AuditLog of dbo.AuditLog is stored with PAGE compression (SQL Server, where it can be done online).

   dbo.AuditLog is the largest table (a row for every change, kept 365 days by default) and is
   written once and read rarely: the review of 2026-11-30 (M5) asks for DATA_COMPRESSION = PAGE
   on it. PAGE compression (row compression, then prefix and dictionary compression per page:
   Microsoft, "Data compression") is in every edition since SQL Server 2016 SP1 ("Editions and
   supported features of SQL Server 2016"), but an existing index only takes it by being rebuilt,
   and only Enterprise/Developer (EngineEdition 3), Azure SQL Database (5) and Managed Instance (8)
   rebuild online. So, one index per script (0019 PK_AuditLog, 0020 IX_AuditLog_EntityType_EntityId,
   0021 IX_AuditLog_RequestId_Id), each without a transaction (a RESUMABLE rebuild cannot run in one):
     - EngineEdition 3 on SQL Server 2019+, 5, 8: ALTER INDEX ... REBUILD WITH (DATA_COMPRESSION =
       PAGE, ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)),
       RESUMABLE = ON): readers and writers go on; the short locks at its start and end are asked
       for at low priority, and after a minute's wait the rebuild gives up and the deploy fails
       (run it again later); a rebuild stopped by a failover or KILL is resumed by running this
       script again (ALTER INDEX (Transact-SQL): ONLINE, RESUMABLE, WAIT_AT_LOW_PRIORITY; "Guidelines
       for online index operations"). As the clustered index of a table with an
       nvarchar(max) column (Details), its resumable rebuild takes a Sch-M lock for a moment at its
       start (ALTER INDEX, RESUMABLE), which WAIT_AT_LOW_PRIORITY asks for at low priority.
     - other editions (Standard, Express) and older versions: nothing is rebuilt, since an offline
       rebuild would block every audited write, i.e. every write, for the whole rebuild. The script
       says so; a DBA may rebuild the index WITH (DATA_COMPRESSION = PAGE) in a maintenance window.
     - an index already PAGE-compressed is left alone.
   Babelfish (PostgreSQL) has no DATA_COMPRESSION; PostgreSQL compresses long values itself (TOAST).
   The rebuild reads and writes the whole index once, in the deploy: on a large table, deploy this
   script when the server has the I/O to spare. */
{% if engine == "sqlserver" %}
IF
    EXISTS (
        SELECT 1
        FROM sys.partitions AS p
        INNER JOIN sys.indexes AS i
            ON i.object_id = p.object_id AND i.index_id = p.index_id
        WHERE i.object_id = OBJECT_ID(N'dbo.AuditLog') AND i.name = N'PK_AuditLog' AND p.data_compression <> 2
    )
    OR EXISTS (
        SELECT 1 FROM sys.index_resumable_operations AS r
        WHERE r.object_id = OBJECT_ID(N'dbo.AuditLog') AND r.name = N'PK_AuditLog'
    )
BEGIN
    IF
        CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)
        OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 15)
        EXEC (N'ALTER INDEX PK_AuditLog ON dbo.AuditLog REBUILD WITH (
            DATA_COMPRESSION = PAGE,
            ONLINE = ON (WAIT_AT_LOW_PRIORITY (MAX_DURATION = 1 MINUTES, ABORT_AFTER_WAIT = SELF)),
            RESUMABLE = ON
        );');
    ELSE
        PRINT N'0019: PK_AuditLog stays uncompressed: this edition cannot rebuild it online. Rebuild it WITH (DATA_COMPRESSION = PAGE) in a maintenance window.';
END;
{% else %}
SET NOCOUNT ON; -- Babelfish: no DATA_COMPRESSION (PostgreSQL compresses long values itself)
{% endif %}
GO
