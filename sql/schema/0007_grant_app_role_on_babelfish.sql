/* 0007 - what the application role needs beyond EXECUTE on api, per engine.

   SQL Server and Azure SQL: nothing. The api procedures reach the dbo tables and helpers
   through ownership chaining (one owner, dbo), so songsdb_app keeps EXECUTE on api only and
   has no right on any table.

   Babelfish 4.2 has no ownership chaining and rejects EXECUTE AS OWNER: a procedure runs
   with its caller's rights. There the role must also use the dbo tables and helpers and read
   deploy.SchemaHistory (api.GetServerInfo), or no procedure could work. Schema-level grants
   also cover objects created later. This is the one place where least privilege differs. */
{% if engine == "babelfish" %}
GRANT EXECUTE ON SCHEMA::dbo TO songsdb_app;
GO
GRANT SELECT, INSERT, UPDATE, DELETE ON SCHEMA::dbo TO songsdb_app;
GO
GRANT SELECT ON SCHEMA::deploy TO songsdb_app;
GO
{% else %}
SET NOCOUNT ON; -- nothing to grant on this engine
GO
{% endif %}
