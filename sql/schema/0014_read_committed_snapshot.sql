-- songsdb:no-transaction
/* 0014 - readers see the last committed row version instead of waiting for writers (SQL Server).

   The design assumes it (worker.ClaimNextJob's first search runs without the queue lock so that
   idle workers never queue behind it; the lookups of core.ReturnJob and the lists read while jobs
   change). Under SQL Server's default, locking read committed, those reads take shared locks and
   wait for any uncommitted row they meet: a web call that created a job in its own transaction
   would stall every claimer, and the one holding the queue lock with them.

   Azure SQL Database has READ_COMMITTED_SNAPSHOT on from the start: nothing to do there. Babelfish
   runs on PostgreSQL, whose readers never block writers or wait for them: nothing to do there
   either, so it renders a comment only.

   ALTER DATABASE cannot run inside a transaction (hence the no-transaction header) and does not
   honour SET LOCK_TIMEOUT. Turning the option on needs the database to itself: "only the
   connection executing the ALTER DATABASE command is allowed in the database" (Microsoft,
   "Enabling Row Versioning-Based Isolation Levels"). Without a termination clause the statement
   would wait, for as long as any other session stays in the database, with new sessions queueing
   behind its request: an outage in a deploy. WITH ROLLBACK IMMEDIATE would get its way by rolling
   back every open transaction of the application's sessions (a worker's completed job, a web
   request's write) without warning. So this script says WITH NO_WAIT, which fails at once instead
   of waiting, and tries again for about 10 seconds (a health check or another migrator's lock probe
   connects only for a moment), then stops the deploy with a message saying what to do:

   - on a new database (`songsdb up`, `songsdb migrate --create-database`, the DBA script with
     --create-database) nothing else is connected and it succeeds at once;
   - on a database the services already use, stop them (or their connection pools) for the moment
     it takes, or run this in a maintenance window, then deploy again. A DBA who accepts rolling
     back the open transactions may instead run
     ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT ON WITH ROLLBACK IMMEDIATE;
     and then deploy: this script finds the option on and does nothing. */
{% if engine == "sqlserver" %}
DECLARE @Attempt int = 1;
DECLARE @Reason nvarchar(2048);
DECLARE @Database nvarchar(128) = DB_NAME();
WHILE (SELECT d.is_read_committed_snapshot_on FROM sys.databases AS d WHERE d.database_id = DB_ID()) = 0
BEGIN
    BEGIN TRY
        ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT ON WITH NO_WAIT;
        BREAK;
    END TRY
    BEGIN CATCH
        IF @Attempt >= 20
        BEGIN
            SET @Reason = ERROR_MESSAGE();
            RAISERROR (
                N'0014: READ_COMMITTED_SNAPSHOT could not be turned on in %s: other sessions are using it (%s). Stop the services that connect to it, or deploy in a maintenance window, then deploy again; this script never rolls back anyone''s transaction (WITH NO_WAIT).',
                16, 1, @Database, @Reason
            );
            RETURN;
        END;
        SET @Attempt = @Attempt + 1;
        WAITFOR DELAY '00:00:00.500';
    END CATCH;
END;
{% else %}
-- Babelfish: PostgreSQL's readers never wait for writers; there is no READ_COMMITTED_SNAPSHOT to turn on.
{% endif %}
