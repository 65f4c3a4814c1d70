/* 0008 - one interface schema and one role per consumer (least privilege by duty).

   api     / songsdb_web    : the web service: songs, the jobs it creates, reads, results,
                              the audit of its own actions.
   worker  / songsdb_worker : the GPU workers: claim, heartbeat, complete, fail, and add
                              results to a job they hold (fenced by the claim token).
   ops     / songsdb_ops    : operations: cleanup, summaries, queue status, retries.
   core                     : internal helpers the interface procedures call; no role is
                              granted anything on it on SQL Server (ownership chaining).

   Each role gets EXECUTE on its own schema and nothing else; on SQL Server the procedures
   reach the dbo tables through ownership chaining (every schema is owned by dbo). What
   Babelfish needs beyond that is in 0009. The old all-purpose role songsdb_app (0001) is
   retired: its rights are revoked here, and `songsdb up` puts each login in its duty role.
   The role is kept (not dropped) so that a DBA's existing memberships fail closed. */
CREATE SCHEMA worker AUTHORIZATION dbo;
GO
CREATE SCHEMA ops AUTHORIZATION dbo;
GO
CREATE SCHEMA core AUTHORIZATION dbo;
GO
CREATE ROLE songsdb_web;
GO
CREATE ROLE songsdb_worker;
GO
CREATE ROLE songsdb_ops;
GO
GRANT EXECUTE ON SCHEMA::api TO songsdb_web;
GO
GRANT EXECUTE ON SCHEMA::worker TO songsdb_worker;
GO
GRANT EXECUTE ON SCHEMA::ops TO songsdb_ops;
GO
REVOKE EXECUTE ON SCHEMA::api FROM songsdb_app;
GO
{% if engine == "babelfish" %}
REVOKE EXECUTE ON SCHEMA::dbo FROM songsdb_app;
GO
REVOKE SELECT, INSERT, UPDATE, DELETE ON SCHEMA::dbo FROM songsdb_app;
GO
REVOKE SELECT ON SCHEMA::deploy FROM songsdb_app;
GO
{% endif %}
