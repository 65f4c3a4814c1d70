/* 0052 - dbo.AuditLog.RecordedBy defaults to ORIGINAL_LOGIN(), so that no procedure names the column (issue #18, section 4).

   Until now every procedure that writes an audit row set RecordedBy = ORIGINAL_LOGIN() itself (0015), so
   each role had to be allowed to insert the column, and on Babelfish, where procedures run with their
   caller's rights (0009), a login could insert an audit row directly with any RecordedBy (the attacker's
   reading of session 7, M1). From this release the value comes from this default: the procedures stop
   naming the column (re-created after this script), 0053 narrows each role's INSERT on the audit log to
   the columns the procedures name, and 0054, a contract step applied after this release's procedures,
   takes RecordedBy out of it. A row inserted directly then records the login that inserted it too.

   ORIGINAL_LOGIN() is the login that opened the session, whatever EXECUTE AS switched to ("ORIGINAL_LOGIN
   (Transact-SQL)": "the identity of the login that first connected"): in a default it is evaluated in the
   inserting session, so it is exactly the value the procedures wrote. A default is used only when the
   INSERT does not name the column; a statement that names it still stores what it gives (the previous
   release's procedures, during a deploy, store ORIGINAL_LOGIN() as before). Measured on Babelfish 4.2
   under FreeTDS and Microsoft's ODBC Driver 18 (README, Roles): the default is evaluated with the
   inserting login's identity, inside a procedure too, and gives the same text the procedures recorded.

   Online on both engines: a DEFAULT constraint added to an existing column is a catalog change that
   applies to later inserts only (ALTER TABLE (Transact-SQL), "Locks and ALTER TABLE"; existing rows are
   filled only WITH VALUES, not used here), under a Sch-M lock held for the moment of the change; on
   Babelfish ADD CONSTRAINT ... DEFAULT ... FOR becomes PostgreSQL's SET DEFAULT, which never touches
   existing rows. Rows written before keep what they hold (NULL before 0015). Guarded, as 0041 is, so a
   database that has the default already is left as it is.

   A deploy that stops at a maintenance step before this script (0043, 0045) applies this release's
   procedures without this default: until the step is done and the deploy completes, the audit rows they
   write have RecordedBy NULL (Source still names the procedure). README, Roles. */
IF NOT EXISTS (
    SELECT 1
    FROM sys.default_constraints AS d
    WHERE d.parent_object_id = OBJECT_ID(N'dbo.AuditLog')
        AND d.parent_column_id = COLUMNPROPERTY(OBJECT_ID(N'dbo.AuditLog'), N'RecordedBy', 'ColumnId')
)
    ALTER TABLE dbo.AuditLog ADD CONSTRAINT DF_AuditLog_RecordedBy DEFAULT (ORIGINAL_LOGIN()) FOR RecordedBy;
GO
