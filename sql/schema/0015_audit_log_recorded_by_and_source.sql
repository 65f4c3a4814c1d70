-- songsdb:no-transaction
/* 0015 - every audit row says who wrote it and from which procedure.

   dbo.AuditLog gets two columns, filled by core.WriteAudit (and by the procedures that insert
   audit rows set-based: api.EnqueueJobs, api.ImportSongs, api.LogAudit):
     RecordedBy  the login of the session, ORIGINAL_LOGIN(): the login that connected, even under
                 EXECUTE AS, so a service's audit rows name the service's own login
                 (songsdb_web_login, songsdb_worker_login, ...), whatever UserId the caller claims;
     Source      the procedure that wrote the row, schema-qualified (OBJECT_SCHEMA_NAME and
                 OBJECT_NAME of that procedure's @@PROCID, which it passes to core.WriteAudit:
                 inside core.WriteAudit @@PROCID would name core.WriteAudit itself). Babelfish's
                 catalog spells names in lower case ('api.createsong').
   Rows written before this script keep NULL in both: what wrote them is not known.

   Online on both engines: a NULL column without a default is a metadata-only change; no row is
   read or written. SQL Server holds its Sch-M lock on dbo.AuditLog only for the moment of the
   catalog change (ALTER TABLE (Transact-SQL), "Locks and ALTER TABLE"; compare "Adding NOT NULL
   columns as an online operation", which only a column with a value to store needs), and the
   deployment's SET LOCK_TIMEOUT bounds the wait for it. PostgreSQL (Babelfish) adds a column
   without a default by changing the catalog only, without rewriting the table (PostgreSQL,
   ALTER TABLE, "Notes").

   One column per statement: Babelfish 4.2 rejects a list after ADD. Two changes to one table, so
   the script runs without a transaction (the linter's several-ddl-in-transaction rule: each
   change's Sch-M lock is held only for that statement, not until a script-wide commit), and each
   statement is guarded, so a run stopped between the two completes on the next deploy. */
IF COL_LENGTH(N'dbo.AuditLog', N'RecordedBy') IS NULL
    ALTER TABLE dbo.AuditLog ADD RecordedBy nvarchar(128) NULL;
GO
IF COL_LENGTH(N'dbo.AuditLog', N'Source') IS NULL
    ALTER TABLE dbo.AuditLog ADD Source nvarchar(257) NULL;
GO
