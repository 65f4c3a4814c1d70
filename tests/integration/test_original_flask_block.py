"""The original design's "Flask Integration" block (shared/SEED.md), verbatim but for its import
lines, runs against the real engine as the web role and does what it says.

Two import lines change: ``server.songs_db`` is now ``songsdb``, and the design's own
``server.logging_utils.setup_flask_app_hooks`` is now ``songsdb.flask.setup_flask_app_hooks``.
The block's ``# Upload file logic...`` is a placeholder that would set ``file_id``, ``filename``
and ``file_size``; the test sets those three names in the block's module, as that logic would.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from songsdb.config import Settings
from songsdb.flask import HEADER

from .helpers import query, scalar

SEED = Path(__file__).resolve().parents[3] / "shared" / "SEED.md"

# Copied from shared/SEED.md, section "Flask Integration"; only the two import lines differ.
FLASK_INTEGRATION = '''\
from flask import Flask, request, jsonify
from songsdb import SongsDatabase
from songsdb.flask import setup_flask_app_hooks

app = Flask(__name__)
setup_flask_app_hooks(app)

# Initialize database
db = SongsDatabase()

@app.route('/upload', methods=['POST'])
def upload():
    # Upload file logic...

    # Save to database
    song_id = db.create_song(
        file_id=file_id,
        filename=filename,
        title=request.form.get('title'),
        artist=request.form.get('artist'),
        file_size=file_size
    )

    # Log audit
    db.log_audit(
        'song',
        song_id,
        'uploaded',
        request_id=request.request_id
    )

    return jsonify({'song_id': song_id})

@app.route('/process/<model_name>/<file_id>', methods=['POST'])
def process_file(model_name, file_id):
    # Get song
    song = db.get_song(file_id)
    if not song:
        return jsonify({'error': 'Song not found'}), 404

    # Create job
    job_id = db.create_job(
        song_id=song['Id'],
        model_name=model_name,
        job_type='separation',
        request_id=request.request_id
    )

    # Process (async or sync)
    # ...

    # Update status
    db.update_job_status(
        job_id,
        'completed',
        progress=100,
        message='Processing complete'
    )

    return jsonify({'job_id': job_id})
'''


def test_the_copy_is_the_original_designs_block_but_for_the_imports() -> None:
    if not SEED.is_file():
        pytest.skip(f"{SEED} is not beside this checkout")
    text = SEED.read_text(encoding="utf-8")
    block = text.split("### Flask Integration\n\n```python\n", 1)[1].split("```", 1)[0]
    original = block.replace("from server.songs_db import SongsDatabase", "from songsdb import SongsDatabase").replace(
        "from server.logging_utils import setup_flask_app_hooks", "from songsdb.flask import setup_flask_app_hooks"
    )
    # the design's blank lines inside functions hold spaces; the copy's are empty
    assert [line.rstrip() for line in original.splitlines()] == FLASK_INTEGRATION.splitlines()


def audit_since(settings: Settings, last_id: int) -> list[tuple[Any, ...]]:
    """(RequestId, EntityType, EntityId, Action) of every audit row written after ``last_id``."""
    return query(
        settings,
        "SELECT RequestId, EntityType, EntityId, Action FROM dbo.AuditLog WHERE Id > ? ORDER BY Id;",
        last_id,
    )


def last_audit_id(settings: Settings) -> int:
    return int(scalar(settings, "SELECT COALESCE(MAX(Id), 0) FROM dbo.AuditLog;"))


@pytest.fixture
def seed_app(
    songsdb_database: Settings,
    songsdb_settings: dict[str, Settings],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Any:
    """The block run as a module, its ``SongsDatabase()`` configured from the environment as the web role."""
    monkeypatch.chdir(tmp_path)  # no .env.songs-db here: the environment names the server
    monkeypatch.setenv("SONGSDB_CONNECTION_STRING", songsdb_settings["web"].odbc())
    namespace: dict[str, Any] = {"__name__": "seed_flask_integration"}
    exec(compile(FLASK_INTEGRATION, "SEED.md: Flask Integration", "exec"), namespace)
    yield namespace
    namespace["db"].close()


def test_the_original_designs_flask_block_runs_unchanged(seed_app: dict[str, Any], songsdb_database: Settings) -> None:
    client = seed_app["app"].test_client()
    file_id = f"seed-{uuid.uuid4().hex[:8]}"
    seed_app.update(file_id=file_id, filename="test.mp3", file_size=1234)  # what "Upload file logic..." sets

    before = last_audit_id(songsdb_database)
    uploaded = client.post("/upload", data={"title": "Test Song", "artist": "Test Artist"}, headers={HEADER: "seed-upload"})
    assert uploaded.status_code == 200, uploaded.get_data(as_text=True)
    assert uploaded.headers[HEADER] == "seed-upload"
    song_id = uploaded.get_json()["song_id"]
    song = seed_app["db"].get_song(file_id)
    assert (str(song["Id"]), song["Title"], song["Artist"], song["FileSize"]) == (song_id, "Test Song", "Test Artist", 1234)
    # entity ids compared without case: the procedures write a UUID upper-case, str(UUID) is lower-case
    assert [(r, e, i.lower(), a) for r, e, i, a in audit_since(songsdb_database, before)] == [
        ("seed-upload", "song", song_id, "created"),
        ("seed-upload", "song", song_id, "uploaded"),
    ]

    before = last_audit_id(songsdb_database)
    processed = client.post(f"/process/demucs/{file_id}")  # no X-Request-ID: one is generated
    assert processed.status_code == 200, processed.get_data(as_text=True)
    generated = processed.headers[HEADER]
    job = seed_app["db"].get_job(processed.get_json()["job_id"])
    assert (job.status, job.progress, job.message) == ("completed", 100, "Processing complete")
    assert job.request_id == generated and str(job.song_id) == song_id
    caused = audit_since(songsdb_database, before)
    assert caused and {row[0] for row in caused} == {generated}

    before = last_audit_id(songsdb_database)
    missing = client.post("/process/demucs/no-such-file")
    assert (missing.status_code, missing.get_json()) == (404, {"error": "Song not found"})
    assert audit_since(songsdb_database, before) == []
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs;") == 1
