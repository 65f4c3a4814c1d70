/* 0049 - an attempt can end 'cancelled' (the DBA review's m2), step 1 of 3: the wider CHECK, added unvalidated.

   ops.CancelJob and ops.CancelJobs cancel running, worker-held jobs, but left the attempt's row in
   dbo.JobAttempts open (Outcome NULL) for good, so the console's attempt history showed a claim that
   never ended. They now end it 'cancelled' in the same transaction, which CK_JobAttempts_Outcome (0024)
   does not allow. Expand/contract, one change to the table per script:
     0049 adds CK_JobAttempts_OutcomeValues, the old outcomes and 'cancelled';
     0050 drops CK_JobAttempts_Outcome, so 'cancelled' can be written (the procedures that write it are
          re-applied after every versioned script, so none writes it before then);
     0051 validates the new constraint on SQL Server where the table is small (else in a window).
   On SQL Server it is added WITH NOCHECK: a catalog change under a brief Sch-M lock, no row read (every
   existing row complies: the old constraint allows a subset). Babelfish has no WITH NOCHECK (0045): there
   PostgreSQL reads the table once to validate it, under its ALTER TABLE lock; the outcomes are a
   narrow column of a table that grows by one row per claim. */
{%- set nocheck = "WITH NOCHECK " if engine == "sqlserver" else "" %}
ALTER TABLE dbo.JobAttempts {{ nocheck }}ADD CONSTRAINT CK_JobAttempts_OutcomeValues -- songsdb:lint-ok check-constraint-with-check Babelfish has no WITH NOCHECK; one read of a narrow column (header)
    CHECK (Outcome IN ('completed', 'requeued', 'failed', 'expired', 'cancelled'));
GO
