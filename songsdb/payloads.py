"""The shapes of the payloads the client sends as JSON: stems, a transcription, an analysis, jobs to queue.

Each is a ``TypedDict`` with the client's snake_case keys, so mypy catches a misspelt key
(``stem_nmae``) before the server does; at run time any mapping with these keys is accepted and
its keys become the procedures' camelCase (an unknown key is a ValidationError naming the allowed ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from songsdb.errors import ValidationError
from songsdb.models import JobType

__all__ = ["TrackIn", "TranscriptionIn", "ChromaAnalysisIn", "JobIn", "track_rows", "job_rows", "renamed"]


class _TrackRequired(TypedDict):
    stem_name: str
    file_path: str


class TrackIn(_TrackRequired, total=False):
    """One stem for ``add_separated_tracks`` / ``complete_job(tracks=...)``: stem_name and file_path, the rest optional."""

    file_size: int | None
    format: str | None
    sample_rate: int | None
    duration: float | None


class TranscriptionIn(TypedDict, total=False):
    """``complete_job(transcription=...)``: every field optional."""

    language: str | None
    full_text: str | None
    segments: Sequence[Any] | None
    model_name: str | None


class ChromaAnalysisIn(TypedDict, total=False):
    """``complete_job(chroma_analysis=...)``: every field optional; ``chroma_vector`` has 12 numbers, C to B."""

    key_name: str | None
    mode: str | None
    tempo: float | None
    key_confidence: float | None
    tempo_confidence: float | None
    chroma_vector: Sequence[float] | None


class _JobRequired(TypedDict):
    model_name: str
    job_type: JobType


class JobIn(_JobRequired, total=False):
    """One job for ``enqueue_jobs``: model_name and job_type, optionally priority, max_attempts and job_key.

    ``job_key`` follows ``create_job``'s rule: a job that exists with that key (same song, model and
    type) is returned in its place instead of a new one.
    """

    priority: int
    max_attempts: int
    job_key: str | None


# the procedures' JSON names for each payload's keys (a unit test keeps them equal to the TypedDicts')
TRACK_KEYS = {
    "stem_name": "stemName",
    "file_path": "filePath",
    "file_size": "fileSize",
    "format": "format",
    "sample_rate": "sampleRate",
    "duration": "duration",
}
TRANSCRIPTION_KEYS = {"language": "language", "full_text": "fullText", "segments": "segments", "model_name": "modelName"}
CHROMA_KEYS = {
    "key_name": "keyName",
    "mode": "mode",
    "tempo": "tempo",
    "key_confidence": "keyConfidence",
    "tempo_confidence": "tempoConfidence",
    "chroma_vector": "chromaVector",
}
JOB_KEYS = {
    "model_name": "modelName",
    "job_type": "jobType",
    "priority": "priority",
    "max_attempts": "maxAttempts",
    "job_key": "jobKey",
}


def renamed(name: str, item: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    """``item`` with the procedure's key names; an unknown key is a ValidationError naming ``name``."""
    unknown = set(item) - set(keys)
    if unknown:
        raise ValidationError(f"{name} has unknown keys {sorted(unknown)}; allowed: {sorted(keys)}")
    return {keys[k]: v for k, v in item.items()}


def track_rows(tracks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stems as the procedures' JSON expects them (snake_case keys become camelCase)."""
    return [renamed(f"tracks[{i}]", track, TRACK_KEYS) for i, track in enumerate(tracks)]


def job_rows(jobs: Sequence[tuple[str, str] | tuple[str, str, int] | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Jobs to queue as ``api.EnqueueJobs`` expects them: from (model_name, job_type[, priority]) or mappings."""
    rows = []
    for i, job in enumerate(jobs):
        if isinstance(job, Mapping):
            rows.append(renamed(f"jobs[{i}]", job, JOB_KEYS))
        elif isinstance(job, tuple) and len(job) in (2, 3):
            rows.append(dict(zip(("modelName", "jobType", "priority"), job)))
        else:
            raise ValidationError(f"jobs[{i}] must be (model_name, job_type[, priority]) or a mapping")
    return rows
