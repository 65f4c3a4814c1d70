"""The original design's "Test Database Operations" block (shared/SEED.md), verbatim but for its
import line, runs against the real engine and does what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from songsdb.config import Settings

SEED = Path(__file__).resolve().parents[3] / "shared" / "SEED.md"

# Copied from shared/SEED.md, section "Test Database Operations"; only the import line differs.
TEST_DATABASE_OPERATIONS = '''\
from songsdb import SongsDatabase

db = SongsDatabase()

# Create test song
song_id = db.create_song(
    file_id='test-123',
    filename='test.mp3',
    title='Test Song',
    artist='Test Artist'
)
print(f"Created song: {song_id}")

# Get song
song = db.get_song('test-123')
print(f"Retrieved: {song['Title']} by {song['Artist']}")

# Create job
job_id = db.create_job(
    song_id=song_id,
    model_name='demucs',
    job_type='separation'
)
print(f"Created job: {job_id}")

# Update job
db.update_job_status(job_id, 'completed', progress=100)
print("Job completed!")
'''


def test_the_copy_is_the_original_designs_block_but_for_the_import() -> None:
    if not SEED.is_file():
        pytest.skip(f"{SEED} is not beside this checkout")
    text = SEED.read_text(encoding="utf-8")
    block = text.split("### Test Database Operations\n```python\n", 1)[1].split("```", 1)[0]
    original = block.replace("from server.songs_db import SongsDatabase", "from songsdb import SongsDatabase")
    assert original == TEST_DATABASE_OPERATIONS


def test_the_original_designs_test_block_runs_unchanged(
    fresh_database: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from songsdb.migrator import Migrator

    Migrator(fresh_database).migrate()
    monkeypatch.chdir(tmp_path)  # no .env.songs-db here: the environment names the server
    monkeypatch.setenv("SONGSDB_CONNECTION_STRING", fresh_database.odbc())
    namespace: dict[str, object] = {}
    exec(compile(TEST_DATABASE_OPERATIONS, "SEED.md: Test Database Operations", "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Created song: ") and lines[1] == "Retrieved: Test Song by Test Artist"
    assert lines[2].startswith("Created job: ") and lines[3] == "Job completed!"
    db = namespace["db"]
    job = db.get_job(namespace["job_id"])  # type: ignore[attr-defined]
    assert (job.status, job.progress, job.song_id) == ("completed", 100, namespace["song_id"])
    db.close()  # type: ignore[attr-defined]
