"""The role clients on a real engine: each signs in as its role's login and runs its schema's procedures.

One job goes the whole way through the three: the web service queues it, a worker claims it (a
ClaimedJob with its token) and completes it with typed payloads, operations see it in the queue's
state; each client's refused call sits next to its working ones.
"""

from __future__ import annotations

import uuid

import pytest

from songsdb import OpsClient, TrackIn, WebClient, WorkerClient, errors
from songsdb.config import Settings
from songsdb.models import ClaimedJob


def test_a_job_goes_through_the_web_worker_and_ops_clients(songsdb_settings: dict[str, Settings]) -> None:
    with WebClient(songsdb_settings["web"]) as web, WorkerClient(songsdb_settings["worker"]) as worker, \
            OpsClient(songsdb_settings["ops"]) as ops:
        song_id = web.create_song(f"role-{uuid.uuid4()}", "a.mp3")
        [queued] = web.enqueue_jobs(song_id, [{"model_name": "demucs-roles", "job_type": "separation", "priority": 5}])
        assert [(q.model_name, q.queued) for q in ops.queue_status() if q.model_name == "demucs-roles"] == [("demucs-roles", 1)]

        job = worker.claim_next_job("gpu-roles", model_names=["demucs-roles"])
        assert isinstance(job, ClaimedJob) and job.id == queued.id and isinstance(job.claim_token, uuid.UUID)
        assert worker.claim_next_job("gpu-roles", model_names=["demucs-roles"]) is None  # nothing else queued
        worker.heartbeat(job.id, job.claim_token, progress=50)
        tracks: list[TrackIn] = [{"stem_name": "vocals", "file_path": "/v.wav", "format": "wav"}]
        done = worker.complete_job(job.id, job.claim_token, tracks=tracks)
        assert done.status == "completed"
        assert [t.stem_name for t in web.get_song_results(song_id).tracks] == ["vocals"]

        # each login is refused the other roles' procedures, as the role clients' types say
        with pytest.raises(errors.PermissionDenied, match="WorkerClient"):
            worker._one(ClaimedJob, "api.GetJob", False, JobId=str(job.id))
        with pytest.raises(errors.PermissionDenied):
            web._many(ClaimedJob, "worker.ClaimNextJob", True, WorkerId="web")


def test_a_role_clients_transaction_commits_its_calls_together(songsdb_settings: dict[str, Settings]) -> None:
    with WebClient(songsdb_settings["web"]) as web:
        with web.transaction() as tx:
            assert type(tx) is WebClient
            song_id = tx.create_song(f"role-tx-{uuid.uuid4()}", "b.mp3")
            tx.create_job(song_id, "demucs", "separation")
        assert [j.song_id for j in web.list_jobs(song_id=song_id)] == [song_id]
        with pytest.raises(KeyError):
            with web.transaction() as tx:
                other = tx.create_song(f"role-tx-{uuid.uuid4()}", "c.mp3")
                raise KeyError("boom")
        assert web.get_song_by_id(other) is None
