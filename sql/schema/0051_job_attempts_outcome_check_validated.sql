-- songsdb:no-transaction
/* 0051 - an attempt can end 'cancelled' (the DBA review's m2), step 3 of 3: the new CHECK validated (SQL Server).

   0049 added CK_JobAttempts_OutcomeValues WITH NOCHECK on SQL Server, which marks it is_not_trusted
   until the existing rows are checked. WITH CHECK CHECK CONSTRAINT reads every row under a Sch-M lock
   on dbo.JobAttempts (no claim, no report until it ends: the linter's check-constraint-with-check
   rule), so, as 0046 does, it runs only where the table holds at most 10,000 rows, which is a moment;
   a larger table keeps the constraint enforced but untrusted, and this script says so (PRINT) and
   succeeds: validate it in a maintenance window with
     ALTER TABLE dbo.JobAttempts WITH CHECK CHECK CONSTRAINT CK_JobAttempts_OutcomeValues;
   Babelfish validated it when 0049 added it (no WITH NOCHECK there): a comment only. */
{% if engine == "sqlserver" %}
IF EXISTS (
    SELECT 1 FROM sys.check_constraints AS c
    WHERE c.object_id = OBJECT_ID(N'dbo.CK_JobAttempts_OutcomeValues') AND c.is_not_trusted = 1
)
BEGIN
    IF (SELECT COUNT_BIG(*) FROM (SELECT TOP (10001) 1 AS One FROM dbo.JobAttempts) AS t) <= 10000
        -- songsdb:lint-ok check-constraint-with-check run only on a table of at most 10,000 rows; larger ones are left for a window (header)
        ALTER TABLE dbo.JobAttempts WITH CHECK CHECK CONSTRAINT CK_JobAttempts_OutcomeValues;
    ELSE
        PRINT N'0051: dbo.JobAttempts holds more than 10,000 rows: CK_JobAttempts_OutcomeValues stays enforced but untrusted. In a maintenance window run ALTER TABLE dbo.JobAttempts WITH CHECK CHECK CONSTRAINT CK_JobAttempts_OutcomeValues;';
END;
GO
{% else %}
-- Babelfish: PostgreSQL validated CK_JobAttempts_OutcomeValues when 0049 added it.
{% endif %}
