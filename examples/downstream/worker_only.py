"""A downstream GPU service that uses songsdb's worker role alone, and type-checks under ``mypy --strict``.

    SONGSDB_WORKER_USER=... SONGSDB_WORKER_PASSWORD=... python examples/downstream/worker_only.py gpu-1

It holds a :class:`songsdb.WorkerClient`: the methods the worker login may run and no others, so
calling a web or operations method (``db.create_song(...)``, ``db.cleanup_old_data(...)``) is an
error mypy reports, not a PermissionDenied at run time. ``claim_next_job`` returns a
``ClaimedJob`` whose ``claim_token`` is a ``uuid.UUID``, never None, so it goes straight into
``heartbeat``, ``complete_job`` and ``fail_job``; the payloads are ``TypedDict``s
(``TrackIn``), so a misspelt key is a type error too. ``tests/unit/test_role_clients.py`` runs
mypy on this file and on the mistakes it would catch.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence

from songsdb import ClaimedJob, LeaseLost, TrackIn, WorkerClient


def separate(job: ClaimedJob) -> list[TrackIn]:
    """Stands in for demucs: one stem per instrument."""
    return [{"stem_name": stem, "file_path": f"/stems/{job.id}/{stem}.wav", "format": "wav"} for stem in ("vocals", "drums")]


def work_once(db: WorkerClient, worker_id: str) -> ClaimedJob | None:
    """Claim one separation job, run it and report it; the job, or None when the queue was empty."""
    job = db.claim_next_job(worker_id, job_types=["separation"], lease_seconds=300)
    if job is None:
        return None
    token: uuid.UUID = job.claim_token  # not optional: no None check needed
    try:
        db.heartbeat(job.id, token, progress=10, message="separating")
        tracks = separate(job)
    except LeaseLost:
        return job  # another worker took it: drop it, write nothing
    except Exception as exc:
        db.fail_job(job.id, token, str(exc) or type(exc).__name__)
        return job
    db.complete_job(job.id, token, tracks=tracks, result_metadata={"stems": len(tracks)})
    return job


def main(argv: Sequence[str]) -> int:
    with WorkerClient(pool_size=1) as db:  # the SONGSDB_WORKER_* login; or WorkerClient(settings)
        while work_once(db, argv[0] if argv else "gpu-1") is not None:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
