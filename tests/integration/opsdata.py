"""Jobs in every state for the operations console's tests, each test under a model name of its own.

The integration tests share one database per session, so each test makes its jobs under a fresh
model name and filters by it: what other tests left behind never counts.
"""

from __future__ import annotations

import uuid

from songsdb.database import SongsDatabase
from songsdb.models import JobType


def model() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def song(web: SongsDatabase, title: str | None = "Intro", *, request_id: str | None = None) -> uuid.UUID:
    return web.create_song(f"file-{uuid.uuid4().hex}", "a.mp3", title=title, request_id=request_id)


def failed_job(
    web: SongsDatabase,
    worker: SongsDatabase,
    model_name: str,
    *,
    job_type: JobType = "separation",
    title: str | None = "Intro",
    message: str = "CUDA out of memory",
    stack: str | None = "Traceback (most recent call last):\n  ...",
    request_id: str | None = None,
) -> uuid.UUID:
    """A job that failed on its last attempt (max_attempts=1), so it stays failed."""
    job_id = web.create_job(song(web, title, request_id=request_id), model_name, job_type, max_attempts=1, request_id=request_id)
    claimed = worker.claim_next_job("gpu-1", job_types=[job_type], model_names=[model_name], request_id=request_id)
    assert claimed is not None and claimed.id == job_id
    worker.fail_job(job_id, claimed.claim_token, message, error_stack=stack, request_id=request_id)
    return job_id


def completed_job(
    web: SongsDatabase, worker: SongsDatabase, model_name: str, *, job_type: JobType = "separation", request_id: str | None = None
) -> uuid.UUID:
    job_id = web.create_job(song(web, request_id=request_id), model_name, job_type, request_id=request_id)
    claimed = worker.claim_next_job("gpu-2", job_types=[job_type], model_names=[model_name], request_id=request_id)
    assert claimed is not None and claimed.id == job_id
    worker.complete_job(job_id, claimed.claim_token, result_metadata={"ok": True}, request_id=request_id)
    return job_id
