/* 0012 - audit actions are one lower-case word, not a closed list.

   The web service records what it does in its own words: the original design logs
   'uploaded' for a song, and services add 'downloaded', 'shared', 'exported' as they grow.
   A closed list in a CHECK constraint would need a migration for every new verb, and was
   already refusing the original design's own call. The domain is now a pattern, matched under
   a binary collation (so case and accents count): 2 to 20
   characters, lower-case ASCII letters and underscores (snake_case), so actions stay one
   canonical spelling that reports can group by. Entity types stay a closed list: they name
   the tables an audit row can point at. api.LogAudit stores LOWER(@Action). */
ALTER TABLE dbo.AuditLog DROP CONSTRAINT CK_AuditLog_Action;
GO
ALTER TABLE dbo.AuditLog ADD CONSTRAINT CK_AuditLog_Action CHECK (
    LEN(Action) BETWEEN 2 AND 20
    AND Action COLLATE Latin1_General_BIN2 NOT LIKE '%[^abcdefghijklmnopqrstuvwxyz_]%'
);
GO
