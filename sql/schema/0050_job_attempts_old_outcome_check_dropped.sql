/* 0050 - an attempt can end 'cancelled' (the DBA review's m2), step 2 of 3: the narrower CHECK goes.

   CK_JobAttempts_Outcome (0024) allows completed, requeued, failed and expired only; while it exists
   both constraints hold and 'cancelled' is refused. CK_JobAttempts_OutcomeValues (0049) now allows
   every outcome it did and 'cancelled'. Dropping a CHECK constraint is a catalog change (no row is
   read); the procedures of this release, which write 'cancelled', are applied after this script. */
ALTER TABLE dbo.JobAttempts DROP CONSTRAINT CK_JobAttempts_Outcome;
GO
