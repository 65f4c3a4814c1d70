"""Every keyset or offset page is read by one seek per row, whatever the tables hold (issue #22).

The list procedures pick a page's keys into a table variable, then read the rows for those keys.
Babelfish (PostgreSQL) cannot estimate a table variable: it assumes about 1,700 rows, and once a
table holds some tens of thousands of rows it joins the page to it by sorting the whole table
(a merge join over a sequential scan: 26 ms at 20,000 jobs, measured by bench/long_lived.py, and
growing with the table), on every connection, fresh or long-lived. Each page is therefore read by
a ``CROSS APPLY (SELECT TOP (1) ...)`` per key, which PostgreSQL cannot flatten into such a join.
The test reads each procedure's plans at that size and finds no sequential scan of a big table.
"""

from __future__ import annotations

import re

import pytest

from songsdb.config import Settings

from .conftest import DatabaseFactory
from .helpers import profiled, query, scalar
from .test_long_lived_plans import NUMBERS

ROWS = 20_000
BIG_TABLES = ("songs", "processingjobs", "auditlog")


@pytest.fixture(scope="module")
def loaded(engine: str, databases: DatabaseFactory) -> Settings:
    """A database with 20,000 songs, jobs (failed, running and completed) and audit rows of one request.
    Each running job's lease ends at another second, as leases renewed by many workers do."""
    if engine != "babelfish":
        pytest.skip("the plans read here are PostgreSQL's (Babelfish); SQL Server estimates a table variable by its rows")
    target = databases.new(migrate=True)
    query(
        target,
        "INSERT INTO dbo.Songs (FileId, FileName, Title, Artist, Status, UploadedAt, LastModified) "
        "SELECT TOP (?) CONCAT(N'page-', CONVERT(nvarchar(36), NEWID())), N'a.mp3', N'Song', N'Artist', 'completed', "
        f"SYSUTCDATETIME(), SYSUTCDATETIME() FROM {NUMBERS};",
        ROWS,
    )
    query(
        target,
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType, Status, CreatedAt, StartedAt, CompletedAt, "
        "ErrorMessage, WorkerId, ClaimToken, LeaseExpiresAt, HeldBy) "
        "SELECT s.Id, N'demucs', 'separation', v.Status, SYSUTCDATETIME(), "
        "CASE WHEN v.Status = 'running' THEN SYSUTCDATETIME() END, "
        "CASE WHEN v.Status <> 'running' THEN SYSUTCDATETIME() END, "
        "CASE WHEN v.Status = 'failed' THEN N'boom' END, "
        "CASE WHEN v.Status = 'running' THEN N'gpu-1' END, "
        "CASE WHEN v.Status = 'running' THEN NEWID() END, "
        "CASE WHEN v.Status = 'running' THEN DATEADD(SECOND, s.N, SYSUTCDATETIME()) END, "
        "CASE WHEN v.Status = 'running' THEN 'worker' END "
        "FROM (SELECT Id, ROW_NUMBER() OVER (ORDER BY Id) % 3 AS Kind, ROW_NUMBER() OVER (ORDER BY Id) AS N FROM dbo.Songs) AS s "
        "INNER JOIN (VALUES (0, 'failed'), (1, 'running'), (2, 'completed')) AS v (Kind, Status) ON v.Kind = s.Kind;",
    )
    query(
        target,
        "INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, [Timestamp]) "
        "SELECT N'trail', 'job', CONVERT(nvarchar(36), j.JobId), 'created', SYSUTCDATETIME() FROM dbo.ProcessingJobs AS j;",
    )
    query(target, "EXEC sp_updatestats;")  # statistics that know the tables' size, as autovacuum makes them
    return target


def plans(settings: Settings, call: str) -> str:
    """The plans of every statement ``call`` ran on a new session, as one text."""
    import pyodbc

    conn = pyodbc.connect(settings.odbc(), autocommit=True, timeout=30)
    try:
        return profiled(conn.cursor(), call)
    finally:
        conn.close()


NODE = re.compile(r" on (songs|processingjobs|auditlog|jobattempts|separatedtracks|transcriptions|chromaanalysis)\b.*"
                  r"actual time=[0-9.]+\.\.[0-9.]+ rows=(\d+) loops=(\d+)")


def big_reads(plan: str, limit: int) -> list[str]:
    """The plan nodes that read more than ``limit`` rows of a table (per loop times loops: what the
    node returned, so a sequential or full index scan of a big table shows, and so does a seek
    whose filter threw most of what it read away ("Rows Removed by Filter")."""
    found = []
    lines = plan.splitlines()
    for number, line in enumerate(lines):
        match = NODE.search(line)
        if not match:
            continue
        rows = int(match.group(2)) * int(match.group(3))
        following = lines[number + 1 : number + 4]
        removed = sum(int(x.split(":")[1]) * int(match.group(3)) for x in following if "Rows Removed by" in x)
        if rows + removed > limit or "Seq Scan" in line and match.group(1) in BIG_TABLES:
            found.append(line.strip())
    return found


CALLS = {
    "api.ListSongs": "EXEC api.ListSongs @Limit = 50;",
    "api.ListSongs by status": "EXEC api.ListSongs @Status = 'completed', @Limit = 50;",
    "api.ListJobs": "EXEC api.ListJobs @Status = 'failed', @Limit = 50;",
    "ops.GetJobSummary": "EXEC ops.GetJobSummary @Limit = 50;",
    "ops.GetJobSummary by status": "EXEC ops.GetJobSummary @Status = 'failed', @Limit = 50;",
    "ops.ListFailedJobs": "EXEC ops.ListFailedJobs @Limit = 50;",
    "ops.ListHeldJobs": "EXEC ops.ListHeldJobs @Limit = 50;",
    "ops.GetRequestTrail": "EXEC ops.GetRequestTrail @RequestId = N'trail', @Limit = 50;",
}


@pytest.mark.parametrize("name", list(CALLS))
def test_a_page_of_a_list_procedure_is_read_without_scanning_a_big_table(loaded: Settings, name: str) -> None:
    assert scalar(loaded, "SELECT COUNT(*) FROM dbo.ProcessingJobs;") == ROWS
    plan = plans(loaded, CALLS[name])
    assert "Query Text" in plan and NODE.search(plan), plan  # the profile was read: the check below is not vacuous
    assert big_reads(plan, 1_000) == [], plan  # a page of 50: its keys and rows, never the table
