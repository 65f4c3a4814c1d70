"""An example GPU worker for songsdb's job queue: copy it into your service and plug in your model.

    python examples/gpu_worker.py --worker-id gpu-1 --job-type separation

It claims a job, runs your handler while a background thread heartbeats (extending the lease
and reporting progress), then completes the job with the handler's results in one transaction,
or fails it with the exception's message and traceback (the queue retries it with back-off
until its attempts are used up). SIGTERM or SIGINT stops it cleanly: the job in hand is
finished and reported, then the loop ends. If its lease is lost (the process stalled longer than
the lease and another worker took the job), it drops the job without writing anything.

Faults on the wire never end the loop. A report (heartbeat, complete, fail) whose answer was lost
(``OutcomeUnknown``: it may have committed) is sent again with the same claim token, with
exponential back-off and a bound (``report_attempts``): the procedures answer a repeat as the
first call and write nothing twice (README, "Safe retries"). A claim that fails the same way is
left to its lease (if it committed, the job comes back when the lease expires) and the loop polls
again after ``idle_seconds``; so does a claim that could not connect (``NotConnected``,
``PoolTimeout``). A report that still fails after its retries is logged and dropped: the lease
expires and the job is claimed again.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

from songsdb import WorkerClient
from songsdb.api_worker import WorkerApi
from songsdb.errors import Conflict, DatabaseUnavailable, LeaseLost, NotFound, SongsDbError, ValidationError
from songsdb.models import ClaimedJob, Job, JobType

log = logging.getLogger("gpu_worker")

# A handler gets the job and a progress callback, and returns the keyword arguments of
# complete_job: tracks=..., transcription=..., chroma_analysis=..., result_metadata=...
Handler = Callable[[ClaimedJob, Callable[[int, str | None], None]], dict[str, Any]]
T = TypeVar("T")


@dataclass
class Worker:
    """Claims and runs jobs until ``stop()`` (or a signal) or, with ``stop_when_idle``, an empty queue."""

    db: WorkerApi  # a WorkerClient, or a SongsDatabase(role="worker")
    handler: Handler
    worker_id: str
    job_types: Sequence[JobType] | None = None
    model_names: Sequence[str] | None = None
    lease_seconds: int = 300
    heartbeat_seconds: float = 60.0
    idle_seconds: float = 5.0
    stop_when_idle: bool = False
    report_attempts: int = 6  # a report is sent at most this many times when its answer is lost
    report_backoff: float = 0.5  # seconds before the first resend, doubled each time (full jitter), at most 30
    done: list[Job] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def stop(self, *_: object) -> None:
        """Finish the job in hand, then return from run()."""
        self._stopping.set()

    def run(self) -> list[Job]:
        """The loop; returns the jobs this worker completed or failed."""
        while not self._stopping.is_set():
            try:
                job = self.db.claim_next_job(
                    self.worker_id, job_types=self.job_types, model_names=self.model_names,
                    lease_seconds=self.lease_seconds,
                )
            except DatabaseUnavailable as exc:  # not connected, or the answer lost: poll again later (module doc)
                log.warning("claim failed, trying again in %.1f s: %s", self.idle_seconds, exc)
                self._stopping.wait(self.idle_seconds)
                continue
            if job is None:
                if self.stop_when_idle:
                    break
                self._stopping.wait(self.idle_seconds)
                continue
            self._run_one(job)
        return self.done

    def _run_one(self, job: ClaimedJob) -> None:
        token = job.claim_token  # a ClaimedJob's token is a UUID, never None
        progress: dict[str, Any] = {"value": None, "message": None}
        beating = threading.Event()
        lost = threading.Event()

        def report(value: int, message: str | None = None) -> None:
            progress.update(value=value, message=message)

        def beat() -> None:
            while not beating.wait(self.heartbeat_seconds):
                try:
                    self._resending(lambda: self.db.heartbeat(
                        job.id, token, progress=progress["value"], message=progress["message"],
                        lease_seconds=self.lease_seconds,
                    ))
                except (Conflict, NotFound):  # the lease was lost, the job cancelled or its song deleted: stop
                    lost.set()
                    return
                except Exception:  # a failed heartbeat is retried at the next beat
                    log.warning("heartbeat for %s failed", job.id, exc_info=True)

        heart = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
        heart.start()
        try:
            results = self.handler(job, report)
        except Exception as exc:
            beating.set()
            heart.join()
            if not lost.is_set():
                self._fail(job, token, exc)
            return
        beating.set()
        heart.join()
        if lost.is_set():
            log.warning("job %s was taken back, cancelled or deleted while it ran: its result is dropped", job.id)
            return
        try:
            self._report(lambda: self.db.complete_job(job.id, token, **results))
        except (ValidationError, TypeError) as exc:  # the handler's results were refused: the job fails, it does not linger
            self._fail(job, token, exc)

    def _fail(self, job: ClaimedJob, token: Any, exc: BaseException) -> None:
        message = (str(exc) or type(exc).__name__)[:MAX_ERROR_MESSAGE]
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            self._report(lambda: self.db.fail_job(job.id, token, message, error_stack=stack))
        except (ValidationError, TypeError) as refused:  # never leave the loop over one job
            log.error("could not record job %s as failed (%s); its lease will bring it back", job.id, refused)

    def _report(self, call: Callable[[], Job]) -> None:
        """Send a report; a refusal other than of its arguments (ValidationError, raised) is logged, never fatal."""
        try:
            self.done.append(self._resending(call))
        except LeaseLost as exc:
            log.warning("lease lost, result dropped: %s", exc)
        except DatabaseUnavailable as exc:  # still unreachable after every resend: the lease will bring the job back
            log.error("report dropped after %d attempts, the job will be claimed again: %s", self.report_attempts, exc)
        except ValidationError:
            raise
        except SongsDbError as exc:  # cancelled (InvalidStatusTransition), deleted (JobNotFound), ...: nothing to report to
            log.warning("report refused, result dropped: %s", exc)

    def _resending(self, call: Callable[[], T]) -> T:
        """``call()``, sent again with the same arguments (the same claim token) while the database is unavailable.

        Safe because every worker report is answered as the first one when repeated with its token;
        bounded by ``report_attempts``, with exponential back-off and full jitter in between.
        """
        delay = self.report_backoff
        for attempt in range(1, self.report_attempts + 1):
            try:
                return call()
            except DatabaseUnavailable as exc:
                if attempt == self.report_attempts:
                    raise
                log.warning("report attempt %d failed (%s), sending it again", attempt, exc)
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")  # the loop returns or raises


MAX_ERROR_MESSAGE = 4000  # worker.FailJob's @ErrorMessage limit; the whole traceback goes in error_stack


def demo_handler(job: ClaimedJob, report: Callable[[int, str | None], None]) -> dict[str, Any]:
    """Stands in for demucs / whisper / chroma: replace with the real model."""
    report(50, f"running {job.model_name}")
    if job.job_type == "separation":
        return {"tracks": [{"stem_name": s, "file_path": f"/stems/{job.id}/{s}.wav"} for s in ("vocals", "drums", "bass", "other")]}
    if job.job_type == "transcription":
        return {"transcription": {"language": "en", "full_text": "", "segments": [], "model_name": job.model_name}}
    return {"chroma_analysis": {"key_name": "C", "mode": "major", "tempo": 120.0, "chroma_vector": [0.0] * 12}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a songsdb GPU worker (example).")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--job-type", action="append", dest="job_types", choices=get_args(JobType), help="repeat for several types")
    parser.add_argument("--lease-seconds", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with WorkerClient() as db:  # the worker login (SONGSDB_WORKER_*): EXECUTE on schema worker only
        worker = Worker(db, demo_handler, args.worker_id, args.job_types, lease_seconds=args.lease_seconds,
                        heartbeat_seconds=args.lease_seconds / 3)
        signal.signal(signal.SIGTERM, worker.stop)
        signal.signal(signal.SIGINT, worker.stop)
        worker.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
