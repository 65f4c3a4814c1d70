"""Text lengths are checked as the columns count them (core.TextLength), on the real engine.

An nvarchar(n) column counts UTF-16 code units and keeps trailing spaces; LEN counts neither
(trailing spaces are ignored on both engines, and Babelfish counts an astral-plane character once).
So a value one unit too long is refused with 50002 naming its parameter, and nothing is written;
a value exactly as long as the column is stored byte-exact, emoji and trailing spaces included.
"""

from __future__ import annotations

import uuid

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.errors import ValidationError

from .helpers import scalar

EMOJI = "😀"  # U+1F600: one code point, two UTF-16 units


def units(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


TOO_LONG = {
    "astral characters": EMOJI * 2 + "a" * 397,  # 399 code points, 401 units
    "trailing spaces": "a" * 399 + "  ",  # LEN says 399
}
EXACT = {
    "astral characters": EMOJI * 2 + "a" * 396,  # 400 units
    "trailing spaces": "a" * 398 + "  ",
}


@pytest.mark.parametrize("kind", sorted(TOO_LONG))
def test_a_title_one_unit_too_long_is_refused_with_its_parameter_and_nothing_is_written(
    songsdb_web: SongsDatabase, songsdb_database: Settings, kind: str
) -> None:
    title = TOO_LONG[kind]
    assert units(title) == 401
    file_id = f"file-{uuid.uuid4()}"
    with pytest.raises(ValidationError) as info:
        songsdb_web.create_song(file_id, "a.mp3", title=title)
    assert (info.value.number, info.value.parameter) == (50002, "title")
    assert "(401 characters)" in str(info.value)
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Songs WHERE FileId = ?;", file_id) == 0


@pytest.mark.parametrize("kind", sorted(EXACT))
def test_a_title_as_long_as_its_column_is_stored_exactly(songsdb_web: SongsDatabase, kind: str) -> None:
    title = EXACT[kind]
    assert units(title) == 400
    file_id = f"file-{uuid.uuid4()}"
    songsdb_web.create_song(file_id, "a.mp3", title=title)
    song = songsdb_web.get_song(file_id)
    assert song is not None and song.title == title


def test_an_import_refuses_only_the_rows_one_unit_too_long_and_writes_the_rest(
    songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    tag = uuid.uuid4().hex
    rows = [
        {"file_id": f"{tag}-long-astral", "filename": "a.mp3", "title": TOO_LONG["astral characters"]},
        {"file_id": f"{tag}-long-spaces", "filename": "a.mp3", "artist": TOO_LONG["trailing spaces"]},
        {"file_id": f"{tag}-exact", "filename": "a.mp3", "title": EXACT["astral characters"], "album": EXACT["trailing spaces"]},
        {"file_id": EMOJI * 49 + "ab", "filename": "b.mp3"},  # 100 units: the file id's limit
    ]
    summary = songsdb_web.import_songs(rows)
    assert summary.created == 2
    assert sorted((f.index, f.parameter, f.number) for f in summary.failed) == [(0, "title", 50002), (1, "artist", 50002)]
    song = songsdb_web.get_song(f"{tag}-exact")
    assert song is not None and (song.title, song.album) == (EXACT["astral characters"], EXACT["trailing spaces"])
    assert songsdb_web.get_song(EMOJI * 49 + "ab") is not None
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Songs WHERE FileId LIKE ?;", f"{tag}-long%") == 0


def test_model_and_stem_names_are_checked_as_their_columns_count_them(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_database: Settings
) -> None:
    song = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    over = EMOJI * 2 + "m" * 47  # 49 code points, 51 units: one over the 50 of ModelName and StemName
    exact = EMOJI * 2 + "m" * 46  # 50 units
    with pytest.raises(ValidationError) as info:
        songsdb_web.enqueue_jobs(song, [(over, "separation")])
    assert info.value.number == 50004
    [job] = songsdb_web.enqueue_jobs(song, [(exact, "separation")])
    assert job.model_name == exact
    claimed = songsdb_worker.claim_next_job("lengths", model_names=[exact])
    assert claimed is not None and claimed.id == job.id
    with pytest.raises(ValidationError) as info:
        songsdb_worker.add_separated_tracks(job.id, [{"stem_name": over, "file_path": "/a.wav"}], claim_token=claimed.claim_token)
    assert info.value.number == 50004
    [track] = songsdb_worker.add_separated_tracks(job.id, [{"stem_name": exact, "file_path": "/a.wav"}], claim_token=claimed.claim_token)
    assert track.stem_name == exact
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE ModelName = ?;", over) == 0
