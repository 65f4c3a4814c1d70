/* 0001 - the interface schema and the application role.

   api          : the stored procedures the Python client calls, and nothing else.
   songsdb_app  : the role application logins belong to. It may EXECUTE what is in
                  api and has no rights on any table; procedures reach the tables
                  through ownership chaining (api and dbo share the owner dbo). */
CREATE SCHEMA api AUTHORIZATION dbo;
GO
CREATE ROLE songsdb_app;
GO
GRANT EXECUTE ON SCHEMA::api TO songsdb_app;
GO
