"""The Python client and the SQL agree: procedure names, parameter names and result columns.

Read from the files alone, so it runs everywhere; the integration suite checks the same
against a real engine.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass

import pytest

import songsdb.api_ops
import songsdb.api_web
import songsdb.api_worker
import songsdb.clients
import songsdb.database
import songsdb.executor
from songsdb import models
from songsdb.models import columns

from .sql_catalog import declared_columns, procedures, selected_columns

PROCS = procedures()


@dataclass(frozen=True)
class ClientCall:
    method: str
    procedure: str
    models: tuple[str, ...]
    keywords: tuple[str, ...]


# every method of every client is defined in one of the three role mixins; SongsDatabase and the role
# clients only combine them over the executor (test_every_client_has_exactly_its_roles_methods)
CLIENT_CLASSES = {songsdb.api_web: "WebApi", songsdb.api_worker: "WorkerApi", songsdb.api_ops: "OpsApi"}
CLIENT_MODULES = [*CLIENT_CLASSES, songsdb.executor, songsdb.database, songsdb.clients]


def client_calls() -> list[ClientCall]:
    calls = []
    for module, class_name in CLIENT_CLASSES.items():
        calls.extend(_calls_in(ast.parse(inspect.getsource(module)), class_name))
    return calls


def _calls_in(tree: ast.Module, class_name: str) -> list[ClientCall]:
    calls = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name):
        for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            for node in ast.walk(method):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("_one", "_many", "_sets")
                    and isinstance(node.args[1], ast.Constant)
                ):
                    first = node.args[0]
                    names = tuple(e.id for e in first.elts) if isinstance(first, ast.Tuple) else (first.id,)
                    calls.append(ClientCall(method.name, node.args[1].value, names, tuple(k.arg for k in node.keywords)))
    return calls


CALLS = client_calls()


def test_the_scan_finds_the_client_calls() -> None:
    assert len(CALLS) >= 27
    assert {c.method for c in CALLS} >= {"create_song", "get_song", "create_job", "update_job_status", "log_audit"}
    assert {c.method for c in CALLS} >= {"claim_next_job", "heartbeat", "complete_job", "fail_job", "enqueue_jobs"}


def _api_methods(cls: type) -> set[str]:
    """The public methods a client adds to the executor's (close, transaction, with_timeout)."""
    from songsdb.executor import Executor

    plumbing = {n for n in dir(Executor) if not n.startswith("_")}
    return {n for n in dir(cls) if not n.startswith("_") and n not in plumbing and callable(getattr(cls, n))}


CALLS_THROUGH = {"server_version": "server_info"}  # a method that is another method's call, not its own


def _schemas_of(method: str) -> set[str]:
    method = CALLS_THROUGH.get(method, method)
    return {c.procedure.split(".", 1)[0] for c in CALLS if c.method == method}


def test_every_client_has_exactly_its_roles_methods() -> None:
    from songsdb import OpsClient, SongsDatabase, WebClient, WorkerClient

    by_schema: dict[str, set[str]] = {}
    for client, schema in ((WebClient, "api"), (WorkerClient, "worker"), (OpsClient, "ops")):
        methods = _api_methods(client)
        assert len(methods) >= 4, client  # the scan sees the methods (nothing passes vacuously)
        assert {m: _schemas_of(m) for m in methods} == {m: {schema} for m in methods}, client.__name__
        by_schema[schema] = methods
    # every procedure call the scan found is some role client's, and SongsDatabase has them all
    assert {CALLS_THROUGH.get(m, m) for ms in by_schema.values() for m in ms} >= {c.method for c in CALLS}
    assert _api_methods(SongsDatabase) == set().union(*by_schema.values())
    assert not (by_schema["api"] & by_schema["worker"] or by_schema["api"] & by_schema["ops"] or by_schema["worker"] & by_schema["ops"])


def test_each_role_client_connects_as_its_roles_login(monkeypatch: pytest.MonkeyPatch) -> None:
    import songsdb.executor
    from songsdb import OpsClient, SongsDatabase, WebClient, WorkerClient
    from songsdb.config import Settings

    asked: list[str] = []

    def load_settings(role: str = "web", **overrides: object) -> Settings:
        asked.append(role)
        return Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;")

    monkeypatch.setattr(songsdb.executor, "load_settings", load_settings)
    clients = [WebClient(), WorkerClient(), OpsClient(), SongsDatabase(role="worker"), SongsDatabase()]
    assert asked == ["web", "worker", "ops", "worker", "web"]
    assert [c.role for c in clients] == asked
    with pytest.raises(TypeError):
        WorkerClient(role="ops")  # type: ignore[call-arg]


INTERFACE_SCHEMAS = {"api": "songsdb_web", "worker": "songsdb_worker", "ops": "songsdb_ops"}


@pytest.mark.parametrize("call", CALLS, ids=[c.method for c in CALLS])
def test_every_called_procedure_exists_in_an_interface_schema(call: ClientCall) -> None:
    schema = call.procedure.split(".", 1)[0]
    assert schema in INTERFACE_SCHEMAS, "each role may only EXECUTE its own interface schema (never core or dbo)"
    assert call.procedure.lower() in PROCS, f"{call.method} calls {call.procedure}, which no sql/procs file defines"


def test_each_role_is_granted_exactly_its_own_schema() -> None:
    from songsdb.migrations import discover

    roles_script = next(s for s in discover() if s.name.endswith("0008_roles_by_duty.sql")).source
    grants = set(re.findall(r"GRANT EXECUTE ON SCHEMA::(\w+) TO (\w+);", roles_script))
    assert grants == set(INTERFACE_SCHEMAS.items())


def test_the_queue_methods_call_the_worker_and_ops_schemas() -> None:
    by_method = {c.method: c.procedure.split(".", 1)[0] for c in CALLS}
    assert {by_method[m] for m in ("claim_next_job", "heartbeat", "complete_job", "fail_job")} == {"worker"}
    assert {by_method[m] for m in ("add_separated_tracks", "add_transcription", "add_chroma_analysis")} == {"worker"}
    assert {by_method[m] for m in ("retry_job", "queue_status", "job_summary", "cleanup_old_data")} == {"ops"}
    assert {by_method[m] for m in ("create_song", "create_job", "update_job_status", "log_audit")} == {"api"}


@pytest.mark.parametrize("call", CALLS, ids=[c.method for c in CALLS])
def test_every_call_passes_exactly_the_procedures_parameters(call: ClientCall) -> None:
    proc = PROCS[call.procedure.lower()]
    assert list(call.keywords) == list(proc.parameters)


@pytest.mark.parametrize("call", CALLS, ids=[c.method for c in CALLS])
def test_every_model_reads_exactly_the_columns_the_procedure_declares(call: ClientCall) -> None:
    proc = PROCS[call.procedure.lower()]
    assert len(proc.declared) == len(call.models), f"{proc.name} declares {len(proc.declared)} result set(s)"
    for number, model_name in enumerate(call.models, start=1):
        assert list(columns(getattr(models, model_name))) == proc.declared[number], f"{proc.name} set {number}"


def _returned_through(proc_body: str) -> str | None:
    match = re.search(r"EXEC\s+(core\.Return\w+)[^;]*;\s*END;\s*GO\s*$", proc_body, re.IGNORECASE | re.DOTALL)
    return match.group(1) if match else None


@pytest.mark.parametrize("name", sorted(PROCS), ids=sorted(PROCS))
def test_declared_columns_are_the_ones_the_body_selects(name: str) -> None:
    proc = PROCS[name]
    helper = _returned_through(proc.body)
    if helper:  # the rows come from a core.Return* helper: compare with what it selects
        selected = PROCS[helper.lower()].selected
        declared = list(proc.declared.values())
        assert declared and all(d in selected for d in declared), f"{proc.name} vs {helper}"
    elif proc.selected and proc.declared:
        assert list(proc.declared.values()) == proc.selected[-len(proc.declared):]


@pytest.mark.parametrize("name", sorted(PROCS), ids=sorted(PROCS))
def test_every_branch_of_a_single_result_procedure_returns_the_declared_columns(name: str) -> None:
    """A procedure with one access path per branch (api.ListSongs, api.GetAuditTrail, ...) repeats its
    column list in each branch: every one must be the declared list, in order."""
    proc = PROCS[name]
    if _returned_through(proc.body) or len(proc.declared) != 1 or not proc.selected:
        return
    rows = [cols for cols in proc.selected if not any(c.startswith("@") for c in cols)]
    assert rows, f"{proc.name} declares a result but no SELECT returns rows"
    for cols in rows:
        assert cols == proc.declared[1], proc.name


def test_the_output_reader_sees_rows_returned_by_a_write() -> None:
    body = "INSERT INTO dbo.T (A)\nOUTPUT\n    inserted.Id,\n    inserted.[Timestamp]\nVALUES (1);\n"
    assert selected_columns(body) == [["Id", "Timestamp"]]
    assert selected_columns("INSERT INTO dbo.T (A)\nOUTPUT\n    inserted.Id INTO @New (Id)\nVALUES (1);\n") == []


def test_the_select_reader_sees_aliases_and_skips_subqueries() -> None:
    body = "SET @X = (\n    SELECT\n        a.B\n    FROM t\n);\nSELECT\n    s.Id,\n    CAST(x AS int) AS Total,\n    t.[Timestamp]\nFROM dbo.S AS s;\n"
    assert selected_columns(body) == [["Id", "Total", "Timestamp"]]


def test_the_header_reader_follows_continued_lines() -> None:
    header = "\n   Returns: A, B,\n            C\n   (one row)\n   Returns 2: D\n"
    assert declared_columns(header) == {1: ["A", "B", "C"], 2: ["D"]}


@pytest.mark.parametrize("module", CLIENT_MODULES, ids=lambda m: m.__name__)
def test_no_sql_text_is_built_in_the_client_beyond_exec(module) -> None:
    source = inspect.getsource(module)
    for keyword in ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "BEGIN TRAN"):
        assert keyword not in source, keyword


def _argument_pairs() -> list[tuple[str, str, str]]:
    """(method, procedure parameter, the method's own argument name) for every argument passed straight through."""
    pairs = []
    for module, class_name in CLIENT_CLASSES.items():
        tree = ast.parse(inspect.getsource(module))
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name):
            for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
                arguments = {a.arg for a in method.args.args + method.args.kwonlyargs}
                for node in ast.walk(method):
                    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("_one", "_many", "_sets")):
                        continue
                    for keyword in node.keywords:
                        value = keyword.value
                        if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Constant):
                            name = value.args[0].value  # _uuid_param("song_id", song_id), _json_param("tracks", ...)
                        elif isinstance(value, ast.Name):
                            name = value.id
                        else:
                            continue
                        if keyword.arg and name in arguments:
                            pairs.append((method.name, keyword.arg, name))
    return pairs


def test_a_validation_errors_parameter_is_the_argument_name_the_client_method_takes() -> None:
    from songsdb.errors import argument_name

    pairs = _argument_pairs()
    assert len(pairs) > 60
    wrong = [(m, p, a, argument_name(f"@{p}")) for m, p, a in pairs if argument_name(f"@{p}") != a]
    assert wrong == []


def _code(source: str) -> str:
    """A procedure file without its comments (the header's Example lines name core.WriteAudit too)."""
    from songsdb.migrations import strip_comments

    return strip_comments(source)


def test_every_audit_row_is_written_with_its_login_and_the_procedure_that_wrote_it() -> None:
    """0015: each dbo.AuditLog row says who (ORIGINAL_LOGIN()) and which procedure wrote it, and rows
    are only ever inserted. core.WriteAudit learns the procedure from the caller's @@PROCID (inside
    core.WriteAudit, @@PROCID would name core.WriteAudit itself). Who comes from RecordedBy's default
    (0052), never from the INSERT: no role may insert that column on Babelfish (0054)."""
    import re

    from songsdb.migrations import sql_root

    calls: list[str] = []
    inserts: list[str] = []
    for path in sorted((sql_root() / "procs").glob("*.sql")):
        code = _code(path.read_text(encoding="utf-8"))
        assert not re.search(r"\bUPDATE\s+dbo\.AuditLog\b", code, re.IGNORECASE), f"{path.name} updates audit rows"
        for call in re.findall(r"EXEC\s+core\.(?:WriteAudit|RecordCleanupStep)\b[^;]*;", code, re.IGNORECASE):
            calls.append(path.name)
            passed = "@ProcId = @ProcId" if path.name in ("core.RecordCleanupStep.sql", "core.CleanupAuditLog.sql") else "@ProcId = @@PROCID"
            assert passed in call, f"{path.name}: {call!r} does not pass {passed}"
        for listed in re.findall(r"INSERT\s+INTO\s+dbo\.AuditLog\s*\(([^)]*)\)", code, re.IGNORECASE):
            inserts.append(path.name)
            names = {c.strip().strip("[]") for c in listed.split(",")}
            assert "Source" in names, f"{path.name} inserts audit rows without Source"
            assert "RecordedBy" not in names, f"{path.name} names RecordedBy: leave it to its default, ORIGINAL_LOGIN() (0052)"
    assert len(calls) >= 18 and {"worker.Heartbeat.sql", "dbo.sp_CleanupOldData.sql"} <= set(calls)
    assert set(inserts) == {
        "core.WriteAudit.sql", "api.LogAudit.sql", "api.EnqueueJobs.sql", "api.ImportSongs.sql",
        "worker.ClaimNextJobs.sql", "ops.SweepExpiredLeases.sql", "ops.RetryJobs.sql", "ops.CancelJobs.sql",
    }
