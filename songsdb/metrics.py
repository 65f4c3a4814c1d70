"""Queue and job metrics in Prometheus' text format (``prometheus-client``): what ``/metrics`` and ``songsdb metrics`` print.

One scrape is one call of ``ops.GetQueueMetrics`` (read from indexes only; see its header), turned
into gauges labelled by ``model`` and ``job_type``:

- ``songsdb_jobs_queued``, ``songsdb_jobs_running``, ``songsdb_jobs_failed``,
  ``songsdb_jobs_expired_leases``: the open work now;
- ``songsdb_jobs_oldest_queued_age_seconds``: the age of the oldest queued job;
- ``songsdb_jobs_completed_per_minute``, ``songsdb_jobs_failed_per_minute``: jobs that finished
  in the last window (``songsdb_metrics_window_seconds``, 300 s by default), as a rate per minute;
- ``songsdb_job_claim_latency_avg_seconds``, ``songsdb_job_claim_latency_max_seconds``: from a
  job's creation to its first claim, over the jobs that finished in the window.

Rates and latencies are gauges over a sliding window, not counters: the database keeps no
monotonic totals, and reading the whole history at every scrape is what this avoids.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from songsdb.api_ops import OpsApi
    from songsdb.models import QueueMetrics

__all__ = ["render", "collector", "CONTENT_TYPE", "DEFAULT_WINDOW"]

DEFAULT_WINDOW = 300
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LABELS = ["model", "job_type"]


def _families(metrics: QueueMetrics) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    def gauge(name: str, documentation: str, unit: str = "") -> Any:
        return GaugeMetricFamily(name, documentation, labels=LABELS, unit=unit)

    queued = gauge("songsdb_jobs_queued", "Queued jobs per model and job type.")
    running = gauge("songsdb_jobs_running", "Running jobs (held by a worker or the web service).")
    failed = gauge("songsdb_jobs_failed", "Jobs in the failed state (retry or cancel them).")
    expired = gauge("songsdb_jobs_expired_leases", "Running jobs whose lease expired: the next claim takes them back.")
    oldest = gauge("songsdb_jobs_oldest_queued_age_seconds", "Age of the oldest queued job.")
    for q in metrics.queue:
        labels = [q.model_name, q.job_type]
        queued.add_metric(labels, q.queued)
        running.add_metric(labels, q.running)
        failed.add_metric(labels, q.failed)
        expired.add_metric(labels, q.expired_leases)
        oldest.add_metric(labels, q.oldest_queued_seconds or 0)
    yield from (queued, running, failed, expired, oldest)

    completions = gauge("songsdb_jobs_completed_per_minute", "Jobs completed per minute over the window.")
    failures = gauge("songsdb_jobs_failed_per_minute", "Jobs failed (for good) per minute over the window.")
    average = gauge("songsdb_job_claim_latency_avg_seconds", "Mean time from a job's creation to its first claim, jobs finished in the window.")
    longest = gauge("songsdb_job_claim_latency_max_seconds", "Longest time from a job's creation to its first claim, jobs finished in the window.")
    window = DEFAULT_WINDOW
    for f in metrics.finished:
        labels = [f.model_name, f.job_type]
        window = f.window_seconds
        completions.add_metric(labels, f.completed * 60.0 / f.window_seconds)
        failures.add_metric(labels, f.failed * 60.0 / f.window_seconds)
        if f.claimed:
            average.add_metric(labels, f.claim_seconds_sum / f.claimed)
            longest.add_metric(labels, f.claim_seconds_max)
    yield from (completions, failures, average, longest)
    yield GaugeMetricFamily("songsdb_metrics_window_seconds", "The window the per-minute rates and latencies are over.", value=window)


class _QueueCollector:
    """A prometheus_client collector: each collect() is one ops.GetQueueMetrics call."""

    def __init__(self, client: OpsApi, window_seconds: int) -> None:
        self.client = client
        self.window_seconds = window_seconds

    def collect(self) -> Iterator[Any]:
        yield from _families(self.client.queue_metrics(window_seconds=self.window_seconds))

    def describe(self) -> list[Any]:
        return []  # registering must not call the database


def collector(client: OpsApi, window_seconds: int = DEFAULT_WINDOW) -> Any:
    """A collector to register in a service's own registry (``REGISTRY.register(collector(ops))``)."""
    return _QueueCollector(client, window_seconds)


def render(client: OpsApi, window_seconds: int = DEFAULT_WINDOW) -> bytes:
    """One scrape, in Prometheus' text exposition format."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_QueueCollector(client, window_seconds))
    return bytes(generate_latest(registry))
