"""The fault matrix (issue #21): every public write, and the reads, through a fault-injecting TDS proxy
(``fault_proxy.py``) on the real engine, under the driver SONGSDB_TEST_DSN names.

For each write and each fault point the test states where the fault goes (connection 0's request N,
the first call on a new connection: before it, pyodbc asks for four types' info, sp_datatype_info_100,
and the client sends its session set-up; N is learnt once per module by ``call_request``), then checks, reading back on a
clean connection that does not go through the proxy:

- the error is typed: ``OutcomeUnknown`` when the request was sent and no answer came (``WriteTimeout``,
  one of them, when nothing came back within the call's own time limit), ``NotConnected`` when no
  login got through; a reset at login is retried transparently, since nothing was sent;
- the effect is written at most once: exactly once when the request reached the server (its whole
  reply was read and dropped), not at all when it never left the proxy;
- the faulted connection is discarded, never pooled again (the pool's count of broken connections,
  and the proxy sees that session closed while the next call comes on a new one);
- the documented next step (README, "Faults") makes it exactly once.

Reads are retried transparently on a new connection and return what a clean client reads.
"""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.retry import RetryPolicy

from .fault_proxy import Fault, FaultProxy
from .helpers import endpoint, scalar, through

JOB_KEYS = "job_key" in inspect.signature(SongsDatabase.create_job).parameters  # #21's job keys (branch queue-faults)
# #21's idempotent worker writes (branch queue-faults): set True once merged, so a Conflict from a
# repeated complete_job / fail_job / add_* with the same token fails these tests instead of xfailing
IDEMPOTENT_WORKER_WRITES = True
NEEDS_21 = "needs #21's idempotent worker writes (branch queue-faults), not merged yet"
LIMIT = 1  # seconds: the per-call time limit a black-holed call waits
LOGIN_LIMIT = 15  # seconds a login may take: a Babelfish login on a busy 2-core machine took over 2
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0, max_delay=0)

SENT = ("drop_reply", "cut_reply", "blackhole")  # the request reached the server
EXPECTED = {
    "drop_request": errors.OutcomeUnknown,  # the client cannot tell it never left
    "drop_reply": errors.OutcomeUnknown,
    "cut_reply": errors.OutcomeUnknown,
    "blackhole": errors.WriteTimeout,
    "refuse_login": errors.NotConnected,
}


@dataclass
class State:
    """What a case's setup made, on a clean client."""

    tag: str
    rid: str  # the request id every write of the case carries: its audit rows are its effect
    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


@dataclass(frozen=True)
class Case:
    """One public write: how to set it up, make it, count its effect, and the documented next step."""

    procedure: str
    setup: Callable[[SongsDatabase, State], None]
    call: Callable[[SongsDatabase, State], Any]
    next_step: Callable[[SongsDatabase, State], Any]
    once: int  # the effect of exactly one call
    effect: Callable[[Settings, State], int] | None = None  # default: the audit rows of the case's request id
    final: Callable[[Settings, State], int] | None = None  # what is once after the next step, when not the effect
    needs_21: bool = False  # the next step is #21's idempotent worker writes


def _audit_rows(settings: Settings, state: State) -> int:
    return int(scalar(settings, "SELECT COUNT(*) FROM dbo.AuditLog WHERE RequestId = ?;", state.rid))


def _completions(settings: Settings, state: State) -> int:
    """How often the case's job was completed (its audit rows say)."""
    return int(scalar(
        settings, "SELECT COUNT(*) FROM dbo.AuditLog WHERE EntityType = 'job' AND EntityId = ? AND Action = 'completed';",
        str(state["job"]).upper(),
    ))


# ----- setups (clean client) ----------------------------------------------------------------------------
def _song(db: SongsDatabase, state: State) -> None:
    state.values["song"] = db.create_song(f"fault-{state.tag}", "a.mp3")


def _queued(db: SongsDatabase, state: State, job_type: str = "separation", max_attempts: int = 3) -> None:
    _song(db, state)
    state.values["model"] = f"m-{state.tag}"
    state.values["job"] = db.create_job(state["song"], state["model"], job_type, max_attempts=max_attempts)  # type: ignore[arg-type]


def _claimed(job_type: str) -> Callable[[SongsDatabase, State], None]:
    def setup(db: SongsDatabase, state: State) -> None:
        _queued(db, state, job_type)
        job = db.claim_next_job(f"w-{state.tag}", model_names=[state["model"]])
        assert job is not None and job.id == state["job"]
        state.values["token"] = job.claim_token

    return setup


def _failed(db: SongsDatabase, state: State) -> None:
    _queued(db, state, max_attempts=1)
    job = db.claim_next_job(f"w-{state.tag}", model_names=[state["model"]])
    assert job is not None
    db.fail_job(job.id, job.claim_token, "boom")


def _old_songs(db: SongsDatabase, state: State) -> None:
    files = [f"fault-{state.tag}-{i}" for i in range(2)]
    for f in files:
        db.create_song(f, "a.mp3")
    state.values["files"] = files
    state.values["settings"] = db.settings


# ----- the next steps, as README "Faults" documents them ----------------------------------------------------
def _create_song_again(db: SongsDatabase, state: State) -> Any:
    """The file id is the key: look the song up; create it only when it is not there."""
    song = db.get_song(f"fault-{state.tag}")
    return song.id if song is not None else db.create_song(f"fault-{state.tag}", "a.mp3", request_id=state.rid)


def _update_song_again(db: SongsDatabase, state: State) -> Any:
    song = db.get_song_by_id(state["song"])
    assert song is not None
    if song.title != f"t-{state.tag}":
        return db.update_song(state["song"], title=f"t-{state.tag}", request_id=state.rid)
    return song


def _delete_song_again(db: SongsDatabase, state: State) -> None:
    try:
        db.delete_song(state["song"], request_id=state.rid)
    except errors.SongNotFound:
        pass  # the first one was committed


def _job_key(state: State) -> dict[str, Any]:
    return {"job_key": f"key-{state.tag}"} if JOB_KEYS else {}


def _jobs(state: State) -> list[Any]:
    keys = [{"job_key": f"key-{state.tag}-{i}"} if JOB_KEYS else {} for i in range(2)]
    return [
        {"model_name": state["model"], "job_type": "separation", **keys[0]},
        {"model_name": state["model"], "job_type": "transcription", **keys[1]},
    ]


def _status_again(db: SongsDatabase, state: State) -> Any:
    job = db.get_job(state["job"])
    assert job is not None
    return job if job.status == "cancelled" else db.update_job_status(state["job"], "cancelled", request_id=state.rid)


def _audit_again(db: SongsDatabase, state: State) -> Any:
    trail = db.get_audit_trail(request_id=state.rid)
    if any(e.action == "viewed" and e.entity_id == f"e-{state.tag}" for e in trail):
        return trail
    return db.log_audit("song", f"e-{state.tag}", "viewed", request_id=state.rid)


def _claim_again(db: SongsDatabase, state: State) -> Any:
    """A claim whose answer was lost holds a lease nobody knows the token of: it expires (lease_seconds),
    then the next claim of that type takes the job again; its work is done exactly once."""
    deadline = time.monotonic() + 10
    while (job := db.claim_next_job(f"w-{state.tag}", model_names=[state["model"]], lease_seconds=1)) is None:
        assert time.monotonic() < deadline, "the lost claim's lease never expired"
        time.sleep(0.2)
    assert job.id == state["job"]
    return db.complete_job(job.id, job.claim_token, request_id=f"{state.rid}-done")


def _retry_again(db: SongsDatabase, state: State) -> Any:
    job = db.get_job(state["job"])
    assert job is not None
    return job if job.status == "queued" else db.retry_job(state["job"], request_id=state.rid)


def _old_songs_left(settings: Settings, state: State) -> int:
    marks = ", ".join("?" for _ in state["files"])
    return int(scalar(settings, f"SELECT COUNT(*) FROM dbo.Songs WHERE FileId IN ({marks});", *state["files"]))


def _age(state: State) -> None:
    """Make the case's songs finished and old enough for the cleanup (admin SQL, like test_cleanup)."""
    from .helpers import query

    marks = ", ".join("?" for _ in state["files"])
    query(
        state["settings"],
        f"UPDATE dbo.Songs SET Status = 'completed', LastModified = DATEADD(DAY, -30, SYSUTCDATETIME()) WHERE FileId IN ({marks}); SELECT 1;",
        *state["files"],
    )


TRACKS = [{"stem_name": "vocals", "file_path": "/s/v.wav"}, {"stem_name": "drums", "file_path": "/s/d.wav"}]

WRITES: dict[str, Case] = {
    "create_song": Case(
        "api.CreateSong",
        lambda db, s: None,
        lambda db, s: db.create_song(f"fault-{s.tag}", "a.mp3", request_id=s.rid),
        _create_song_again,
        once=1,
    ),
    "import_songs": Case(
        "api.ImportSongs",
        lambda db, s: None,
        lambda db, s: db.import_songs([{"file_id": f"fault-{s.tag}-{i}", "filename": "a.mp3"} for i in range(3)], request_id=s.rid),
        # stored songs are skipped: the same import again writes exactly what is missing
        lambda db, s: db.import_songs([{"file_id": f"fault-{s.tag}-{i}", "filename": "a.mp3"} for i in range(3)], request_id=s.rid),
        once=3,
    ),
    "update_song": Case(
        "api.UpdateSong", _song, lambda db, s: db.update_song(s["song"], title=f"t-{s.tag}", request_id=s.rid), _update_song_again, once=1
    ),
    "delete_song": Case(
        "api.DeleteSong", _song, lambda db, s: db.delete_song(s["song"], request_id=s.rid), _delete_song_again, once=1
    ),
    "create_job": Case(
        "api.CreateJob",
        lambda db, s: (_song(db, s), s.values.update(model=f"m-{s.tag}")),
        lambda db, s: db.create_job(s["song"], s["model"], "separation", request_id=s.rid, **_job_key(s)),
        # the same job key returns the job the lost answer created
        lambda db, s: db.create_job(s["song"], s["model"], "separation", request_id=s.rid, **_job_key(s)),
        once=1,
    ),
    "enqueue_jobs": Case(
        "api.EnqueueJobs",
        lambda db, s: (_song(db, s), s.values.update(model=f"m-{s.tag}")),
        lambda db, s: db.enqueue_jobs(s["song"], _jobs(s), request_id=s.rid),
        lambda db, s: db.enqueue_jobs(s["song"], _jobs(s), request_id=s.rid),
        once=2,
    ),
    "update_job_status": Case(
        "api.UpdateJobStatus",
        _queued,
        lambda db, s: db.update_job_status(s["job"], "cancelled", request_id=s.rid),
        _status_again,
        once=1,
    ),
    "log_audit": Case(
        "api.LogAudit",
        lambda db, s: None,
        lambda db, s: db.log_audit("song", f"e-{s.tag}", "viewed", request_id=s.rid),
        _audit_again,
        once=1,
    ),
    "claim_next_job": Case(
        "worker.ClaimNextJob",
        _queued,
        lambda db, s: db.claim_next_job(f"w-{s.tag}", model_names=[s["model"]], lease_seconds=1, request_id=s.rid),
        _claim_again,
        once=1,
        final=_completions,  # the claim's audit row says it was claimed; its work is done once
    ),
    "heartbeat": Case(
        "worker.Heartbeat",
        _claimed("separation"),
        lambda db, s: db.heartbeat(s["job"], s["token"], progress=42, request_id=s.rid),
        # a beat repeating the stored progress is a bare lease extension: no second audit row
        lambda db, s: db.heartbeat(s["job"], s["token"], progress=42, request_id=s.rid),
        once=1,
    ),
    "complete_job": Case(
        "worker.CompleteJob",
        _claimed("separation"),
        lambda db, s: db.complete_job(s["job"], s["token"], tracks=TRACKS, request_id=s.rid),  # type: ignore[arg-type]
        lambda db, s: db.complete_job(s["job"], s["token"], tracks=TRACKS, request_id=s.rid),  # type: ignore[arg-type]
        once=1,
        needs_21=True,
    ),
    "fail_job": Case(
        "worker.FailJob",
        _claimed("separation"),
        lambda db, s: db.fail_job(s["job"], s["token"], "boom", request_id=s.rid),
        lambda db, s: db.fail_job(s["job"], s["token"], "boom", request_id=s.rid),
        once=1,
        needs_21=True,
    ),
    "add_separated_tracks": Case(
        "worker.AddSeparatedTracks",
        _claimed("separation"),
        lambda db, s: db.add_separated_tracks(s["job"], TRACKS, claim_token=s["token"], request_id=s.rid),  # type: ignore[arg-type]
        lambda db, s: db.add_separated_tracks(s["job"], TRACKS, claim_token=s["token"], request_id=s.rid),  # type: ignore[arg-type]
        once=1,
        needs_21=True,
    ),
    "add_transcription": Case(
        "worker.AddTranscription",
        _claimed("transcription"),
        lambda db, s: db.add_transcription(s["job"], full_text="la la", language="en", claim_token=s["token"], request_id=s.rid),
        lambda db, s: db.add_transcription(s["job"], full_text="la la", language="en", claim_token=s["token"], request_id=s.rid),
        once=1,
        needs_21=True,
    ),
    "add_chroma_analysis": Case(
        "worker.AddChromaAnalysis",
        _claimed("chroma"),
        lambda db, s: db.add_chroma_analysis(s["job"], key_name="C", mode="major", tempo=120.0, claim_token=s["token"], request_id=s.rid),
        lambda db, s: db.add_chroma_analysis(s["job"], key_name="C", mode="major", tempo=120.0, claim_token=s["token"], request_id=s.rid),
        once=1,
        needs_21=True,
    ),
    "retry_job": Case(
        "ops.RetryJob", _failed, lambda db, s: db.retry_job(s["job"], request_id=s.rid), _retry_again, once=1
    ),
    "cleanup_old_data": Case(
        "ops.CleanupOldData",
        lambda db, s: (_old_songs(db, s), _age(s)),
        lambda db, s: db.cleanup_old_data(7, request_id=s.rid),
        lambda db, s: db.cleanup_old_data(7, request_id=s.rid),  # deleting again deletes what is left, nothing twice
        once=2,
        effect=lambda settings, s: 2 - _old_songs_left(settings, s),
    ),
}


# ----- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clean(migrated: Settings) -> Iterator[SongsDatabase]:
    """A client straight to the server: setups and read-backs never go through the proxy."""
    with SongsDatabase(migrated) as db:
        yield db


@pytest.fixture(scope="module")
def call_request(migrated: Settings) -> int:
    """The number, after login, of a new connection's first call: what pyodbc and the client send
    first is counted on the wire once, not assumed (both drivers: 4 sp_datatype_info_100, then the
    session set-up, so 6)."""
    host, port = endpoint(migrated)
    with FaultProxy(host, port) as probe, SongsDatabase(through(migrated, probe.port), pool_size=1) as db:
        db.server_info()
        db.server_info()  # one more request on the same connection (no fault: the proxy only counts)
        assert len(probe.connections) == 1
        return probe.connections[0].requests - 1


@pytest.fixture
def proxy(migrated: Settings) -> Iterator[FaultProxy]:
    """A proxy of this test's own: its connection 0 is the test client's first."""
    host, port = endpoint(migrated)
    with FaultProxy(host, port) as p:
        yield p


@pytest.fixture
def faulty(migrated: Settings, proxy: FaultProxy) -> Iterator[SongsDatabase]:
    """The client under test: one pooled connection, through the proxy, retries without pauses."""
    with SongsDatabase(through(migrated, proxy.port), pool_size=1, retry=FAST_RETRY, login_timeout=LOGIN_LIMIT) as db:
        yield db


def _state() -> State:
    tag = uuid.uuid4().hex[:12]
    return State(tag, f"fault-{tag}")


def _effect(case: Case, settings: Settings, state: State) -> int:
    return (case.effect or _audit_rows)(settings, state)


def _eventually(condition: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _closed(proxy: FaultProxy, index: int, kind: str) -> None:
    """The faulted connection's session ends: never pooled again, on the wire too."""
    record = proxy.connections[index]
    _eventually(lambda: not record.open, f"{kind}: the faulted session is closed")


def _settle(case: Case, settings: Settings, state: State, want: int) -> int:
    """The effect once the server is done with a call whose client gave up (a black hole): the server
    may still be running it when the client's time limit passes."""
    deadline = time.monotonic() + 5
    while (seen := _effect(case, settings, state)) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    return seen


# ----- writes -----------------------------------------------------------------------------------------------
REQUEST_FAULTS = ("drop_request", "drop_reply", "cut_reply", "blackhole")
ONE_PER_ROLE = ("create_song", "complete_job", "retry_job")  # nothing is sent before login: one client path


def next_request(proxy: FaultProxy, call_request: int) -> tuple[int, int]:
    """(connection, request) of the client's next call: its live connection's next request, or, with
    none open, the first call on the connection it is about to make."""
    live = [c for c in proxy.connections if c.open]
    if live:
        assert len(live) == 1, "one pooled connection at a time"
        return live[0].index, live[0].requests + 1
    return len(proxy.connections), call_request


@pytest.mark.parametrize("method", list(WRITES))
def test_a_write_faulted_after_its_request_is_typed_done_at_most_once_and_its_next_step_makes_it_exactly_once(
    migrated: Settings, clean: SongsDatabase, proxy: FaultProxy, faulty: SongsDatabase, call_request: int, method: str
) -> None:
    """Each request fault in turn, each on fresh data. The next step of one fault runs on the connection
    the next fault hits (a Babelfish session compiles each procedure on its first call there: this
    halves the compiles, not what is checked)."""
    case, skipped = WRITES[method], []
    for kind in REQUEST_FAULTS:
        state = _state()
        case.setup(clean, state)
        where = next_request(proxy, call_request)
        proxy.add(Fault(kind, connection=where[0], request=where[1]))
        broken = faulty._pool.stats().discarded_broken
        caller = faulty.with_timeout(LIMIT) if kind == "blackhole" else faulty

        with pytest.raises(errors.SongsDbError) as info:
            case.call(caller, state)
        _assert_typed(info.value, EXPECTED[kind], f"{method} {kind}")
        assert proxy.fired()[-1] == (*where, kind)
        _closed(proxy, where[0], kind)
        # at most once: not at all when the request never left the proxy, once when the server got it
        want = case.once if kind in SENT else 0
        assert _settle(case, migrated, state, want) == want, kind
        # the faulted connection was discarded, not pooled
        stats = faulty._pool.stats()
        assert (stats.discarded_broken, stats.idle) == (broken + 1, 0), kind
        proxy.clear()
        try:
            case.next_step(faulty, state)
        except errors.Conflict:
            if not case.needs_21 or IDEMPOTENT_WORKER_WRITES:
                raise
            skipped.append(kind)  # the same token again is refused: #21's idempotent writes are not here yet
            continue
        assert (case.final or case.effect or _audit_rows)(migrated, state) == case.once, kind  # exactly once
        assert len(proxy.connections) == where[0] + 2, kind  # the next step came on a new session
    if skipped:
        pytest.xfail(f"{NEEDS_21}: next steps after {', '.join(skipped)} not run")


def _assert_typed(error: BaseException, expected: type[BaseException], what: str) -> None:
    if what.startswith("import_songs"):  # the import reports the chunk it stopped at; the fault is its cause
        assert isinstance(error, errors.ImportInterrupted) and error.next_index == 0, repr(error)
        if isinstance(error.__cause__, errors.OutcomeUnknown):  # it may have committed: never "wrote nothing"
            assert "may or may not have been written" in str(error), str(error)
        error = error.__cause__  # type: ignore[assignment]
    assert isinstance(error, expected), f"{what}: {type(error).__name__}: {error}"
    assert type(error.__cause__).__module__ == "pyodbc", f"{what}: {error.__cause__!r}"


@pytest.mark.parametrize("method", ONE_PER_ROLE)
def test_a_write_whose_logins_are_all_refused_is_not_connected_and_writes_nothing(
    migrated: Settings, clean: SongsDatabase, proxy: FaultProxy, faulty: SongsDatabase, method: str
) -> None:
    case, state = WRITES[method], _state()
    case.setup(clean, state)
    proxy.add(Fault("refuse_login", times=None))
    with pytest.raises(errors.SongsDbError) as info:
        case.call(faulty, state)
    _assert_typed(info.value, errors.NotConnected, method)
    assert _effect(case, migrated, state) == 0
    # a reset before the pre-login is retried as a lost connection, or (FreeTDS, when it sees it while
    # connecting: 20009 "unable to connect") not retried at all: either way nothing was sent. Microsoft's
    # driver may itself open a second TCP connection within one connect, so the client's tries are the
    # pool's count of failed connects, and the proxy saw at least as many
    tries = faulty._pool.stats().connections_refused
    assert 1 <= tries <= FAST_RETRY.attempts and len(proxy.connections) >= tries
    proxy.clear()
    case.call(faulty, state)  # nothing was sent: the call itself is the next step
    assert _effect(case, migrated, state) == case.once


@pytest.mark.parametrize("method", ONE_PER_ROLE)
def test_a_write_whose_first_login_is_reset_is_retried_transparently_and_done_once(
    migrated: Settings, clean: SongsDatabase, proxy: FaultProxy, faulty: SongsDatabase, method: str
) -> None:
    case, state = WRITES[method], _state()
    case.setup(clean, state)
    proxy.add(Fault("reset_login", connection=0))
    case.call(faulty, state)
    assert _effect(case, migrated, state) == case.once
    assert proxy.fired() == [(0, 0, "reset_login")] and len(proxy.connections) == 2


def test_a_write_through_a_login_that_never_answers_is_not_connected_within_the_login_limit(
    migrated: Settings, clean: SongsDatabase, proxy: FaultProxy
) -> None:
    case, state = WRITES["create_song"], _state()
    proxy.add(Fault("blackhole_login", connection=0))
    with SongsDatabase(through(migrated, proxy.port), pool_size=1, retry=FAST_RETRY, login_timeout=2) as hung:
        with pytest.raises(errors.NotConnected) as info:
            case.call(hung, state)
    assert info.value.sqlstate in ("HYT00", "HYT01", "08001", "08S01"), info.value.sqlstate
    assert _effect(case, migrated, state) == 0
    with SongsDatabase(through(migrated, proxy.port), pool_size=1, login_timeout=LOGIN_LIMIT) as db:
        case.call(db, state)  # the next connection gets through
    assert _effect(case, migrated, state) == case.once


def test_latency_each_way_below_the_limit_only_slows_a_write_and_above_it_is_a_write_timeout(
    migrated: Settings, clean: SongsDatabase, proxy: FaultProxy, faulty: SongsDatabase
) -> None:
    case, state = WRITES["create_song"], _state()
    proxy.add(Fault("latency", up=0.05, down=0.05, times=None))
    case.call(faulty.with_timeout(10), state)
    assert _effect(case, migrated, state) == 1
    proxy.clear()
    proxy.add(Fault("latency", down=2 * LIMIT + 1, times=None))
    late = _state()
    with pytest.raises(errors.WriteTimeout):
        case.call(faulty.with_timeout(LIMIT), late)
    assert _settle(case, migrated, late, 1) == 1  # it ran; its answer was late
    assert faulty._pool.stats().discarded_broken == 1


# ----- reads ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def library(clean: SongsDatabase) -> dict[str, Any]:
    """Songs enough that a page of them spans several TDS packets, a job, a result, audit rows."""
    tag = uuid.uuid4().hex[:8]
    clean.import_songs(
        [{"file_id": f"lib-{tag}-{i:03}", "filename": f"song-{i}.mp3", "title": f"Title {i} " + "x" * 60} for i in range(60)],
        request_id=f"lib-{tag}",
    )
    song = clean.get_song(f"lib-{tag}-000")
    assert song is not None
    job = clean.create_job(song.id, f"lib-{tag}", "separation")
    claimed = clean.claim_next_job("lib", model_names=[f"lib-{tag}"])
    assert claimed is not None
    clean.complete_job(claimed.id, claimed.claim_token, tracks=[{"stem_name": "v", "file_path": "/v"}])  # type: ignore[list-item]
    return {"tag": tag, "song": song.id, "file_id": song.file_id, "job": job}


READS: dict[str, tuple[str, Callable[[SongsDatabase, dict[str, Any]], Any]]] = {
    "get_song": ("api.GetSongByFileId", lambda db, lib: db.get_song(lib["file_id"])),
    "list_songs": ("api.ListSongs", lambda db, lib: db.list_songs(title_contains="Title", limit=60)),  # several packets
    "get_song_results": ("api.GetSongResults", lambda db, lib: db.get_song_results(lib["song"])),  # three result sets
    "job_summary": ("ops.GetJobSummary", lambda db, lib: db.job_summary(song_id=lib["song"])),  # the ops role's
}


@pytest.mark.parametrize("read", list(READS))
def test_a_faulted_read_is_retried_transparently_on_a_new_connection(
    clean: SongsDatabase, library: dict[str, Any], proxy: FaultProxy, faulty: SongsDatabase, call_request: int, read: str
) -> None:
    procedure, call = READS[read]
    want = call(clean, library)
    assert want  # something to compare: never a vacuous None == None
    proxy.add(Fault("reset_login", connection=0))
    assert call(faulty, library) == want
    assert proxy.fired() == [(0, 0, "reset_login")] and len(proxy.connections) == 2
    for kind in ("drop_request", "drop_reply", "cut_reply"):
        where = next_request(proxy, call_request)
        proxy.add(Fault(kind, connection=where[0], request=where[1]))
        broken = faulty._pool.stats().discarded_broken
        assert call(faulty, library) == want, kind
        assert proxy.fired()[-1] == (*where, kind)
        _closed(proxy, where[0], kind)
        stats = faulty._pool.stats()
        assert (stats.discarded_broken, stats.idle) == (broken + 1, 1), kind  # the faulted one discarded, the retry's pooled
        assert len(proxy.connections) == where[0] + 2, kind


def test_a_list_cut_in_the_middle_of_its_result_set_is_read_again_whole(
    clean: SongsDatabase, library: dict[str, Any], proxy: FaultProxy, faulty: SongsDatabase, call_request: int
) -> None:
    """The page spans several packets: the client got column metadata and some rows, then the reset."""
    want = clean.list_songs(title_contains="Title", limit=60)
    assert len(want) == 60
    proxy.add(Fault("cut_reply", connection=0, request=call_request, match="api.ListSongs"))
    assert faulty.list_songs(title_contains="Title", limit=60) == want
    assert proxy.fired() == [(0, call_request, "cut_reply")]


def test_a_black_holed_read_is_a_query_timeout_and_its_connection_is_discarded(
    library: dict[str, Any], proxy: FaultProxy, faulty: SongsDatabase, call_request: int
) -> None:
    procedure, call = READS["get_song"]
    proxy.add(Fault("blackhole", connection=0, request=call_request, match=procedure))
    with pytest.raises(errors.QueryTimeout) as info:
        call(faulty.with_timeout(LIMIT), library)
    assert not isinstance(info.value, errors.OutcomeUnknown)  # a read: nothing to be unsure about
    assert faulty._pool.stats().discarded_broken == 1
    proxy.clear()
    assert call(faulty, library)  # the next call opens a new connection and works
    assert len(proxy.connections) == 2
