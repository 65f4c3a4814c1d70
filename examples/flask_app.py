"""A reference Flask service on songsdb: the original design's upload-and-process flow made real.

    pip install 'songsdb[flask]'
    FLASK_APP=examples.flask_app flask run            # settings from SONGSDB_* or .env.songs-db

    curl -F file=@song.mp3 -F title=Intro -H 'X-Request-ID: req-1' localhost:5000/upload
    curl -X POST localhost:5000/process/demucs/<file_id>            # {"job_id": ...}, queued
    curl localhost:5000/jobs/<job_id>
    curl localhost:5000/songs/<file_id>/results

It runs as the web role (schema ``api``): it registers songs and queues jobs, and workers
(``examples/gpu_worker.py``) run them. Every response carries ``X-Request-ID`` (the caller's,
or a generated one), and every row and audit row a request writes records it
(:mod:`songsdb.flask`). Errors are JSON: 400 with the database's validation message, 404 when
the song or job does not exist, 409 for a file id already registered.

Safe to retry (README, "Safe retries"): ``POST /process`` passes the request id as the job key, so
a client that sends the same request again (same ``X-Request-ID``) gets the same job, never a
second one; ``POST /upload`` treats the file id as the song's key: when ``create_song``'s answer is
lost (``OutcomeUnknown``), it looks the file id up and answers with the song it finds, or creates
it when it was not committed.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

from flask import Flask, Response, jsonify, request

from songsdb import SongsDatabase
from songsdb.errors import DuplicateJobKey, DuplicateSong, NotFound, OutcomeUnknown, ValidationError
from songsdb.flask import database, init_app, request_id
from songsdb.models import JobType

HIDDEN = {"claim_token"}  # a worker's lease token is not the web client's business


def to_json(row: Any) -> dict[str, Any]:
    """A row model as JSON-ready values: UUIDs as text, datetimes in ISO 8601 (UTC)."""
    out: dict[str, Any] = {}
    for name, value in asdict(row).items():
        if name in HIDDEN:
            continue
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value
    return out


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=message, **extra), status


def create_song_once(db: SongsDatabase, file_id: str, filename: str, **fields: Any) -> uuid.UUID:
    """``create_song``, safe when its answer is lost: the file id is the song's key (README, "Safe retries").

    After ``OutcomeUnknown`` the song may or may not have been committed: the file id finds it if
    it was (that is this request's song); if not, it is created now. A DuplicateSong then means the
    first call committed after the look-up: the song is read again. The first call's own
    DuplicateSong (the file id was registered before) is not caught here: that is a 409.
    """
    try:
        return db.create_song(file_id, filename, **fields)
    except OutcomeUnknown:
        pass
    song = db.get_song(file_id)  # a read: retried by the client on transient faults
    if song is not None:
        return song.id
    try:
        return db.create_song(file_id, filename, **fields)
    except DuplicateSong:
        song = db.get_song(file_id)
        if song is None:
            raise
        return song.id


def upload() -> tuple[Response, int]:
    """Register an uploaded file's metadata (the file itself would go to storage): 201 with its ids."""
    file = request.files.get("file")
    if file is None or not file.filename:
        return error(400, "a file is required: send it as the multipart field 'file'")
    file.stream.seek(0, os.SEEK_END)
    size = file.stream.tell()
    extension = os.path.splitext(file.filename)[1].lstrip(".").lower() or None
    file_id = request.form.get("file_id") or uuid.uuid4().hex
    try:
        song_id = create_song_once(
            database(),
            file_id,
            os.path.basename(file.filename),
            title=request.form.get("title"),
            artist=request.form.get("artist"),
            album=request.form.get("album"),
            file_size=size,
            file_extension=extension,
            original_filename=file.filename,
        )
    except DuplicateSong as exc:
        return error(409, str(exc), file_id=file_id)
    return jsonify(song_id=str(song_id), file_id=file_id), 201


def process(model_name: str, file_id: str) -> tuple[Response, int]:
    """Queue a job for a worker: 202 with its id; the job type comes from ``job_type`` (form or JSON)."""
    db = database()
    song = db.get_song(file_id)
    if song is None:
        return error(404, "song not found", file_id=file_id)
    body = request.get_json(silent=True)
    given = request.form.get("job_type") or (body.get("job_type") if isinstance(body, dict) else None)
    job_type = cast(JobType, str(given) if given else "separation")  # the database validates it
    try:
        # the request id is the job key: the same request sent again gets the same job (module doc),
        # so a create whose answer was lost is simply sent again
        try:
            job_id = db.create_job(song.id, model_name, job_type, job_key=request_id())
        except OutcomeUnknown:
            job_id = db.create_job(song.id, model_name, job_type, job_key=request_id())
    except ValidationError as exc:
        return error(400, str(exc))
    except DuplicateJobKey as exc:  # this request id already queued another model or type
        return error(409, str(exc), field=exc.parameter)
    return jsonify(job_id=str(job_id), song_id=str(song.id)), 202


def job(job_id: str) -> tuple[Response, int]:
    """The job's state (its worker's lease token left out)."""
    try:
        found = database().get_job(uuid.UUID(job_id))
    except ValueError:
        found = None
    if found is None:
        return error(404, "job not found", job_id=job_id)
    return jsonify(to_json(found)), 200


def results(file_id: str) -> tuple[Response, int]:
    """The stems, transcriptions and analyses the workers stored for a song."""
    db = database()
    song = db.get_song(file_id)
    if song is None:
        return error(404, "song not found", file_id=file_id)
    try:
        found = db.get_song_results(song.id)
    except NotFound:  # deleted between the two calls
        return error(404, "song not found", file_id=file_id)
    return jsonify(
        file_id=file_id,
        song_id=str(song.id),
        tracks=[to_json(t) for t in found.tracks],
        transcriptions=[to_json(t) for t in found.transcriptions],
        analyses=[to_json(a) for a in found.analyses],
    ), 200


def create_app(db: SongsDatabase | None = None) -> Flask:
    """The app; ``db`` defaults to ``SongsDatabase()`` (the web role's settings)."""
    app = Flask(__name__)
    init_app(app, db if db is not None else SongsDatabase())
    app.add_url_rule("/upload", view_func=upload, methods=["POST"])
    app.add_url_rule("/process/<model_name>/<file_id>", view_func=process, methods=["POST"])
    app.add_url_rule("/jobs/<job_id>", view_func=job, methods=["GET"])
    app.add_url_rule("/songs/<file_id>/results", view_func=results, methods=["GET"])
    return app


if __name__ == "__main__":  # pragma: no cover - `flask run` is the usual way
    create_app().run()
