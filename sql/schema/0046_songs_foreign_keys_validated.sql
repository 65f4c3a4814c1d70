-- songsdb:no-transaction
/* 0046 - the four foreign keys 0045 added WITH NOCHECK are validated (SQL Server), so they are trusted again.

   A foreign key added WITH NOCHECK checks every new and changed row, but SQL Server marks it
   is_not_trusted = 1 until the existing rows are validated, and the optimizer then cannot rely on
   it (join elimination). WITH CHECK CHECK CONSTRAINT reads every row of the result table (and looks
   each one up in dbo.Songs) under a Sch-M lock on that table (ALTER TABLE (Transact-SQL); the
   linter's check-constraint-with-check rule): no reader, no writer until it ends. So each is
   validated on its own, without a script-wide transaction, and only where its table holds at most
   10,000 rows, which is a moment. A larger table keeps its foreign key enforced but untrusted, and
   this script says so (PRINT) and succeeds: validate it in a maintenance window with, e.g.,
     ALTER TABLE dbo.ProcessingJobs WITH CHECK CHECK CONSTRAINT FK_ProcessingJobs_Songs;
   (README, "Songs' internal key"). An already trusted foreign key is left alone.
   Babelfish has no [NO]CHECK CONSTRAINT; there PostgreSQL validated each foreign key when 0045 added
   it, so this renders a comment only. */
{% if engine == "sqlserver" %}
{%- for table, fk in [("ProcessingJobs", "FK_ProcessingJobs_Songs"), ("SeparatedTracks", "FK_SeparatedTracks_Songs"), ("Transcriptions", "FK_Transcriptions_Songs"), ("ChromaAnalysis", "FK_ChromaAnalysis_Songs")] %}
IF EXISTS (SELECT 1 FROM sys.foreign_keys AS f WHERE f.object_id = OBJECT_ID(N'dbo.{{ fk }}') AND f.is_not_trusted = 1)
BEGIN
    IF (SELECT COUNT_BIG(*) FROM (SELECT TOP (10001) 1 AS One FROM dbo.{{ table }}) AS t) <= 10000
        -- songsdb:lint-ok check-constraint-with-check run only on a table of at most 10,000 rows; larger ones are left for a window (header)
        ALTER TABLE dbo.{{ table }} WITH CHECK CHECK CONSTRAINT {{ fk }};
    ELSE
        PRINT N'0046: dbo.{{ table }} holds more than 10,000 rows: {{ fk }} stays enforced but untrusted. In a maintenance window run ALTER TABLE dbo.{{ table }} WITH CHECK CHECK CONSTRAINT {{ fk }}; (README, "Songs'' internal key").';
END;
GO
{%- endfor %}
{% else %}
-- Babelfish: PostgreSQL validated the foreign keys when 0045 added them.
{% endif %}
