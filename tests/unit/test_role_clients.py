"""The role clients, the claimed job's token, the typed payloads and the package's exports, with a
recording fake connection (not evidence about any server) and mypy itself for the static claims."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import songsdb
from songsdb import errors
from songsdb.clients import OpsClient, WebClient, WorkerClient
from songsdb.config import Settings
from songsdb.database import SongsDatabase, Transaction
from songsdb.executor import Executor
from songsdb.models import ClaimedJob, Job, columns
from songsdb.pool import ConnectionPool
from songsdb.retry import RetryPolicy

from .fake_odbc import FakeConnection

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 1)


def job_row(token: str | None) -> tuple[Any, ...]:
    return (
        str(uuid.uuid4()), str(uuid.uuid4()), "demucs", "separation", "running", 0, None, None, 0, 1, 3,
        NOW, NOW, NOW, NOW, None, None, None, None, "w", token, NOW, "worker",
    )


def fake(client_type: type[Executor], rows: list[tuple[Any, ...]]) -> tuple[Any, list[FakeConnection]]:
    made: list[FakeConnection] = []
    settings = Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=u;PWD=hunter2;")
    client = client_type(settings, retry=RetryPolicy(attempts=1, base_delay=0, max_delay=0))

    def connect() -> FakeConnection:
        made.append(FakeConnection(lambda sql, params: [(list(columns(Job)), rows)]))
        return made[-1]

    client._pool = ConnectionPool(connect, max_size=2, timeout=1)
    return client, made


@pytest.mark.parametrize("client_type", [WorkerClient, SongsDatabase])
def test_a_claim_is_a_claimed_job_whose_token_is_a_uuid(client_type: type[Executor]) -> None:
    token = uuid.uuid4()
    db, made = fake(client_type, [job_row(str(token))])
    job = db.claim_next_job("w", job_types=["separation"])
    assert isinstance(job, ClaimedJob) and isinstance(job, Job) and job.claim_token == token
    assert job["ClaimToken"] == token and job.model_name == "demucs"
    assert made[0].executed[0][0].startswith(("{CALL worker.ClaimNextJob", "EXEC worker.ClaimNextJob"))


def test_a_claim_without_a_token_is_a_songsdb_error_and_an_empty_queue_is_none() -> None:
    db, _ = fake(WorkerClient, [job_row(None)])
    with pytest.raises(errors.SongsDbError, match="without a claim token"):
        db.claim_next_job("w")
    idle, _ = fake(WorkerClient, [])
    assert idle.claim_next_job("w") is None


def test_a_role_clients_transaction_is_that_client_on_one_connection() -> None:
    token = str(uuid.uuid4())
    db, made = fake(WorkerClient, [job_row(token)])
    with db.transaction() as tx:
        assert type(tx) is WorkerClient and tx is not db and "open=True" in repr(tx) and "hunter2" not in repr(tx)
        tx.heartbeat(uuid.uuid4(), token)
        tx.fail_job(uuid.uuid4(), token, "boom")
        with pytest.raises(errors.SongsDbError, match="do not nest"):
            with tx.transaction():
                pass
        with pytest.raises(errors.SongsDbError, match="closed by its with-block"):
            tx.close()
    assert len(made) == 1 and len(made[0].executed) == 2 and made[0].commits == 1
    assert "open=" not in repr(db)


def test_songsdb_databases_transaction_is_still_a_transaction() -> None:
    db, made = fake(SongsDatabase, [job_row(str(uuid.uuid4()))])
    with db.transaction() as tx:
        assert type(tx) is Transaction and isinstance(tx, SongsDatabase)
        assert repr(tx).startswith("Transaction(") and "open=True" in repr(tx)
        tx.cancel_job(uuid.uuid4())
        timed = tx.with_timeout(5)
        assert type(timed) is Transaction and timed._bound is tx._bound
    assert made[0].commits == 1


def test_each_role_client_has_none_of_the_other_roles_methods() -> None:
    assert hasattr(WorkerClient, "claim_next_job") and not hasattr(WorkerClient, "create_song")
    assert hasattr(WebClient, "create_song") and not hasattr(WebClient, "cleanup_old_data")
    assert hasattr(OpsClient, "cleanup_old_data") and not hasattr(OpsClient, "claim_next_job")
    assert all(hasattr(SongsDatabase, m) for m in ("create_song", "claim_next_job", "cleanup_old_data"))


def test_each_payload_mapping_renames_exactly_its_typed_dicts_keys() -> None:
    from songsdb import payloads

    pairs = [
        (payloads.TrackIn, payloads.TRACK_KEYS),
        (payloads.TranscriptionIn, payloads.TRANSCRIPTION_KEYS),
        (payloads.ChromaAnalysisIn, payloads.CHROMA_KEYS),
        (payloads.JobIn, payloads.JOB_KEYS),
    ]
    for typed, keys in pairs:
        assert typed.__required_keys__ | typed.__optional_keys__ == set(keys), typed.__name__
    assert payloads.TrackIn.__required_keys__ == {"stem_name", "file_path"}
    assert payloads.JobIn.__required_keys__ == {"model_name", "job_type"}
    assert payloads.TranscriptionIn.__required_keys__ == set() and payloads.ChromaAnalysisIn.__required_keys__ == set()
    with pytest.raises(errors.ValidationError, match=r"tracks\[0\] has unknown keys \['stem_nmae'\]"):
        payloads.track_rows([{"stem_nmae": "vocals", "file_path": "/v.wav"}])


def test_everything_the_package_serves_is_in_all_and_in_dir() -> None:
    served = set(songsdb._LAZY) | {"__version__"}
    for module in songsdb._MODULES:
        served |= set(__import__(module, fromlist=["__all__"]).__all__)
    assert set(songsdb.__all__) == served and len(songsdb.__all__) == len(served)
    assert all(getattr(songsdb, name) is not None for name in songsdb.__all__)
    assert {"WorkerClient", "ClaimedJob", "TrackIn", "ImportSummary", "LeaseLost"} <= set(dir(songsdb))
    with pytest.raises(AttributeError):
        songsdb.NoSuchThing  # noqa: B018


def test_importing_the_package_or_its_payloads_does_not_load_pyodbc() -> None:
    code = "import sys, songsdb; from songsdb import TrackIn, ClaimedJob; dir(songsdb); print('pyodbc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


MISTAKES = '''
import uuid
from songsdb import WorkerClient, TrackIn

def use(db: WorkerClient) -> None:
    job = db.claim_next_job("w")
    if job is not None:
        token: uuid.UUID = job.claim_token
        db.complete_job(job.id, token, tracks=[{"stem_nmae": "v", "file_path": "/v.wav"}])
        db.create_song("f", "a.mp3")
    track: TrackIn = {"file_path": "/v.wav"}
'''


def test_mypy_accepts_the_worker_only_example_and_names_each_mistake(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the test extra")
    mistakes = tmp_path / "mistakes.py"
    mistakes.write_text(textwrap.dedent(MISTAKES))
    example = ROOT / "examples" / "downstream" / "worker_only.py"
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         str(example), str(mistakes)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    found = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert not [line for line in found if "worker_only.py" in line], run.stdout
    # the token needs no None check (line 8); each mistake is an error mypy names (lines 9 to 11)
    assert found and all("mistakes.py" in line for line in found), run.stdout + run.stderr
    assert {int(line.split(":")[1]) for line in found} == {9, 10, 11}, run.stdout
    assert any('"WorkerClient" has no attribute "create_song"' in line for line in found)
    assert any('Extra key "stem_nmae"' in line for line in found)
    assert any('Missing key "stem_name" for TypedDict "TrackIn"' in line for line in found)
