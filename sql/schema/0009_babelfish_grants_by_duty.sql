/* 0009 - what each duty role needs beyond EXECUTE on its schema, per engine.

   SQL Server and Azure SQL: nothing. Every schema is owned by dbo, so the interface
   procedures reach core's helpers and the dbo tables through ownership chaining, and the
   roles hold no right on any table.

   Babelfish 4.2 has no ownership chaining and rejects EXECUTE AS OWNER: a procedure runs
   with its caller's rights. There each role also needs EXECUTE on core and exactly the table
   rights its procedures use, and no more:
     songsdb_web    : read every table; write Songs and ProcessingJobs; delete results (api.DeleteSong
                      deletes a song with everything it has); add audit rows; read deploy (GetServerInfo).
     songsdb_worker : read and update ProcessingJobs; read Songs; add results; add audit rows.
     songsdb_ops    : read every table and view; update and delete jobs, songs and results; add,
                      update and delete audit rows (cleanup keeps its audit row current); run
                      dbo.sp_CleanupOldData.
   The views and dbo.sp_CleanupOldData are repeatable objects (created after this script, and
   views are dropped and created again), so their grants to songsdb_ops live in their own files.
   No role but songsdb_ops may UPDATE or DELETE dbo.AuditLog rows. The
   price of caller's rights: on Babelfish a compromised web or worker login can write these
   tables directly, which on SQL Server it cannot. */
{% if engine == "babelfish" %}
GRANT EXECUTE ON SCHEMA::core TO songsdb_web;
GO
GRANT EXECUTE ON SCHEMA::core TO songsdb_worker;
GO
GRANT EXECUTE ON SCHEMA::core TO songsdb_ops;
GO
GRANT SELECT, INSERT, UPDATE, DELETE ON dbo.Songs TO songsdb_web;
GO
GRANT SELECT, INSERT, UPDATE, DELETE ON dbo.ProcessingJobs TO songsdb_web;
GO
GRANT SELECT, DELETE ON dbo.SeparatedTracks TO songsdb_web;
GO
GRANT SELECT, DELETE ON dbo.Transcriptions TO songsdb_web;
GO
GRANT SELECT, DELETE ON dbo.ChromaAnalysis TO songsdb_web;
GO
GRANT SELECT, INSERT ON dbo.AuditLog TO songsdb_web;
GO
GRANT SELECT ON deploy.SchemaHistory TO songsdb_web;
GO
GRANT SELECT ON dbo.Songs TO songsdb_worker;
GO
GRANT SELECT, UPDATE ON dbo.ProcessingJobs TO songsdb_worker;
GO
GRANT SELECT, INSERT ON dbo.SeparatedTracks TO songsdb_worker;
GO
GRANT SELECT, INSERT ON dbo.Transcriptions TO songsdb_worker;
GO
GRANT SELECT, INSERT ON dbo.ChromaAnalysis TO songsdb_worker;
GO
GRANT INSERT ON dbo.AuditLog TO songsdb_worker;
GO
GRANT SELECT, UPDATE, DELETE ON dbo.Songs TO songsdb_ops;
GO
GRANT SELECT, UPDATE, DELETE ON dbo.ProcessingJobs TO songsdb_ops;
GO
GRANT SELECT, DELETE ON dbo.SeparatedTracks TO songsdb_ops;
GO
GRANT SELECT, DELETE ON dbo.Transcriptions TO songsdb_ops;
GO
GRANT SELECT, DELETE ON dbo.ChromaAnalysis TO songsdb_ops;
GO
GRANT SELECT, INSERT, UPDATE, DELETE ON dbo.AuditLog TO songsdb_ops;
GO
{% else %}
SET NOCOUNT ON; -- nothing to grant on this engine
GO
{% endif %}
