"""A reference FastAPI service on songsdb: the Flask service's four routes (examples/flask_app.py) on the
async client, and a route whose two writes share one transaction held by a sync dependency.

    pip install 'songsdb[fastapi]' uvicorn
    uvicorn --factory examples.fastapi_app:create_app     # settings from SONGSDB_* or .env.songs-db

    curl -F file=@song.mp3 -F title=Intro -H 'X-Request-ID: req-1' localhost:8000/upload
    curl -X POST localhost:8000/process/demucs/<file_id>           # {"job_id": ...}, queued
    curl localhost:8000/jobs/<job_id>
    curl localhost:8000/songs/<file_id>/results
    curl -F file=@song.mp3 -F job_type=separation localhost:8000/upload-and-process/demucs   # both rows or neither

It runs as the web role (schema ``api``): it registers songs and queues jobs, and workers
(``examples/gpu_worker.py``) run them. The four routes are ``async def`` and await
:class:`songsdb.aio.AsyncSongsDatabase`, so the event loop never waits on the driver.
``POST /upload-and-process/{model_name}`` is the other shape: a sync endpoint whose dependency is
a sync generator holding ``db.transaction()``; FastAPI runs the dependency's setup, the endpoint
and the teardown in three threads and contexts, and the song and its job are still committed
together or not at all, and the connection is given back on every path.

Every response carries ``X-Request-ID`` (the caller's, or a generated one), and every row and
audit row a request writes records it (:mod:`songsdb.fastapi`). songsdb's errors are answered by
its handlers: 400 with the database's validation message, ``field`` and ``number``; 404; 409 for
a file id already registered; 503 when the database cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from songsdb.aio import AsyncSongsDatabase
from songsdb.database import SongsDatabase, Transaction
from songsdb.errors import DuplicateSong, OutcomeUnknown
from songsdb.fastapi import init_app
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


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


# ----- dependencies ----------------------------------------------------------------------------
async def database(request: Request) -> AsyncSongsDatabase:
    """The app's async client (``async def``: a plain ``def`` dependency would cost a thread per request)."""
    return cast(AsyncSongsDatabase, request.app.state.songsdb)


def transaction(request: Request) -> Iterator[Transaction]:
    """One transaction for the request: committed when the endpoint returns, rolled back when it raises.

    A sync generator: FastAPI runs the part before ``yield`` in one worker thread, the endpoint in
    another and the part after it in a third, each in its own copy of the request's context. The
    Transaction owns its connection, so the endpoint's calls join it from any thread, and the block
    gives the connection back whichever thread ends it. Routes declare it with ``scope="function"``,
    so it commits before the response is sent: a 2xx means committed, and a commit that fails is
    answered as an error, not after a success the client already has.
    """
    db = cast(SongsDatabase, request.app.state.songsdb.sync)
    with db.transaction() as tx:
        yield tx


Database = Annotated[AsyncSongsDatabase, Depends(database)]
InTransaction = Annotated[Transaction, Depends(transaction, scope="function")]

router = APIRouter()


def _file_facts(file: UploadFile) -> tuple[str, int | None, str | None]:
    """The stored file name, size and extension of an upload."""
    name = file.filename or ""
    extension = os.path.splitext(name)[1].lstrip(".").lower() or None
    return os.path.basename(name), file.size, extension


async def create_song_once(adb: AsyncSongsDatabase, file_id: str, filename: str, **fields: Any) -> uuid.UUID:
    """``create_song``, safe when its answer is lost: the file id is the song's key (README, "Safe retries").

    After ``OutcomeUnknown`` the song may or may not have been committed: the file id finds it if it
    was (this request's song); if not, it is created now, and a DuplicateSong then means the first
    call committed after the look-up, so the song is read again. The first call's own DuplicateSong
    (the file id was registered before) is not caught here: that is a 409.
    """
    try:
        return await adb.create_song(file_id, filename, **fields)
    except OutcomeUnknown:
        pass
    song = await adb.get_song(file_id)  # a read: retried by the client on transient faults
    if song is not None:
        return song.id
    try:
        return await adb.create_song(file_id, filename, **fields)
    except DuplicateSong:
        song = await adb.get_song(file_id)
        if song is None:
            raise
        return song.id


# ----- the Flask service's four routes, on the async client ------------------------------------
@router.post("/upload", status_code=201)
async def upload(
    adb: Database,
    file: Annotated[UploadFile | None, File()] = None,
    file_id: Annotated[str | None, Form()] = None,
    title: Annotated[str | None, Form()] = None,
    artist: Annotated[str | None, Form()] = None,
    album: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    """Register an uploaded file's metadata (the file itself would go to storage): 201 with its ids."""
    if file is None or not file.filename:
        return error(400, "a file is required: send it as the multipart field 'file'")
    name, size, extension = _file_facts(file)
    file_id = file_id or uuid.uuid4().hex
    song_id = await create_song_once(
        adb, file_id, name, title=title, artist=artist, album=album, file_size=size, file_extension=extension,
        original_filename=file.filename,
    )
    return JSONResponse({"song_id": str(song_id), "file_id": file_id}, status_code=201)


@router.post("/process/{model_name}/{file_id}", status_code=202)
async def process(model_name: str, file_id: str, request: Request, adb: Database) -> JSONResponse:
    """Queue a job for a worker: 202 with its id; the job type comes from ``job_type`` (form or JSON)."""
    song = await adb.get_song(file_id)
    if song is None:
        return error(404, "song not found", file_id=file_id)
    job_type = cast(JobType, await _job_type(request) or "separation")  # the database validates it
    # the request id is the job key: the same request sent again gets the same job, never a second
    # one, so a create whose answer was lost is simply sent again (README, "Safe retries")
    key = request.state.request_id
    try:
        job_id = await adb.create_job(song.id, model_name, job_type, job_key=key)
    except OutcomeUnknown:
        job_id = await adb.create_job(song.id, model_name, job_type, job_key=key)
    return JSONResponse({"job_id": str(job_id), "song_id": str(song.id)}, status_code=202)


async def _job_type(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "")
    given: object = None
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            body = None
        given = body.get("job_type") if isinstance(body, dict) else None
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        given = (await request.form()).get("job_type")
    return str(given) if given not in (None, "") else None


@router.get("/jobs/{job_id}")
async def job(job_id: str, adb: Database) -> JSONResponse:
    """The job's state (its worker's lease token left out)."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return error(404, "job not found", job_id=job_id)
    found = await adb.get_job(key)
    if found is None:
        return error(404, "job not found", job_id=job_id)
    return JSONResponse(to_json(found))


@router.get("/songs/{file_id}/results")
async def results(file_id: str, adb: Database) -> JSONResponse:
    """The stems, transcriptions and analyses the workers stored for a song."""
    song = await adb.get_song(file_id)
    if song is None:
        return error(404, "song not found", file_id=file_id)
    found = await adb.get_song_results(song.id)  # SongNotFound if deleted meanwhile: the handler's 404
    return JSONResponse({
        "file_id": file_id,
        "song_id": str(song.id),
        "tracks": [to_json(t) for t in found.tracks],
        "transcriptions": [to_json(t) for t in found.transcriptions],
        "analyses": [to_json(a) for a in found.analyses],
    })


# ----- two writes, one transaction, held by a sync dependency -----------------------------------
@router.post("/upload-and-process/{model_name}", status_code=202)
def upload_and_process(
    model_name: str,
    tx: InTransaction,
    file: Annotated[UploadFile | None, File()] = None,
    file_id: Annotated[str | None, Form()] = None,
    title: Annotated[str | None, Form()] = None,
    job_type: Annotated[str, Form()] = "separation",
) -> JSONResponse:
    """Register the song and queue its job in one transaction: 202 with both ids, or neither row.

    A bad model or job type is refused by ``create_job`` after ``create_song`` ran: the
    exception reaches the dependency, which rolls the song back, then the handler answers 400.
    """
    if file is None or not file.filename:
        return error(400, "a file is required: send it as the multipart field 'file'")
    name, size, extension = _file_facts(file)
    file_id = file_id or uuid.uuid4().hex
    song_id = tx.create_song(
        file_id, name, title=title, file_size=size, file_extension=extension, original_filename=file.filename
    )
    job_id = tx.create_job(song_id, model_name, cast(JobType, job_type))
    return JSONResponse({"song_id": str(song_id), "job_id": str(job_id), "file_id": file_id}, status_code=202)


def create_app(db: SongsDatabase | None = None) -> FastAPI:
    """The app; ``db`` defaults to ``SongsDatabase()`` (the web role's settings) and is closed with the app."""
    client = db if db is not None else SongsDatabase()
    adb = AsyncSongsDatabase.wrapping(client)  # one pool for the async routes and the sync dependency

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await adb.aclose()  # its threads; the pool is the client's
        if db is None:
            await asyncio.to_thread(client.close)

    app = FastAPI(title="songsdb reference service", lifespan=lifespan)
    app.state.songsdb = adb
    init_app(app, errors=True)
    app.include_router(router)
    return app
