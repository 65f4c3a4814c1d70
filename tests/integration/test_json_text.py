"""Text that travels inside JSON is stored exactly as the caller sent it, on the real engine.

Babelfish 4.2 returns JSON strings still escaped (``core.JsonText`` decodes them); SQL Server decodes
them itself. Each test sends hostile text (quotes, backslashes, every escape JSON has, control
characters, astral-plane characters, the longest value each column takes) through one procedure that
takes JSON, reads it back through the procedures the application uses, and compares byte for byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from songsdb.config import Settings
from songsdb.database import SongsDatabase

# Every character JSON escapes by name, every other control character but NUL (PostgreSQL cannot
# store it; the client refuses it), what makes escape look-alikes (backslash, u, 0, n), non-ASCII and
# astral-plane characters, and anything else Unicode has (lone surrogates cannot travel as UTF-16
# or UTF-8).
TRICKY = ['"', "\\", "/", "u", "0", "n", "\u2028", "é", "😀", "\U0010fffd", " "] + [chr(c) for c in range(1, 32)]
CHARACTERS = st.one_of(st.sampled_from(TRICKY), st.characters(exclude_characters="\x00", exclude_categories=("Cs",)))
EVERY_ESCAPE = "".join(TRICKY) + '\\u0041 \\n \\\\ \\" \\/ \\b \\f \\r \\t \\u00e9 \\ud83d\\ude00'  # and look-alikes

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def units(value: str) -> int:
    """Length in UTF-16 code units: what nvarchar(n) counts (an astral-plane character takes two)."""
    return len(value.encode("utf-16-le")) // 2


def fit(value: str, limit: int) -> str:
    """The longest start of ``value`` that an nvarchar(``limit``) column holds."""
    while units(value) > limit:
        value = value[:-1]
    return value


def text(limit: int) -> st.SearchStrategy[str]:
    """Text an nvarchar(``limit``) column holds; never blank (the procedures treat a blank as missing)."""
    return st.text(CHARACTERS, min_size=1, max_size=limit).map(lambda s: fit(s, limit)).filter(lambda s: s.strip() != "")


def worst(limit: int) -> str:
    """The longest value a column of ``limit`` characters takes, made of what escapes longest (\\u00XX)."""
    return ("\x01\"\\" * limit)[:limit]


@pytest.fixture(scope="module")
def json_settings(databases: Any) -> Settings:
    return databases.new(migrate=True)


@pytest.fixture(scope="module")
def db(json_settings: Settings) -> Iterator[SongsDatabase]:
    with SongsDatabase(json_settings) as client:
        yield client


def claimed(db: SongsDatabase, job_type: str) -> tuple[uuid.UUID, Any]:
    """A new song with one job of ``job_type`` for a model of its own, claimed: (song id, job)."""
    model = f"m-{uuid.uuid4().hex[:12]}"
    song_id = db.create_song(f"file-{uuid.uuid4()}", "a.wav")
    db.create_job(song_id, model, job_type)
    job = db.claim_next_job("json-text", model_names=[model])
    assert job is not None
    return song_id, job


@SETTINGS
@given(title=text(400), artist=text(400), filename=text(260), file_id=text(100), original=text(260), extension=text(16))
@example(title=EVERY_ESCAPE, artist=worst(400), filename=worst(260), file_id=worst(100), original='C:\\a\\"b"', extension='\\"')
def test_imported_songs_keep_their_text(
    db: SongsDatabase, title: str, artist: str, filename: str, file_id: str, original: str, extension: str
) -> None:
    file_id = fit(file_id, 68) + uuid.uuid4().hex  # unique per example; nvarchar(100), as the column
    metadata = {"note": title, title: [artist, {"k": extension}]}
    summary = db.import_songs(
        [
            {
                "file_id": file_id,
                "filename": filename,
                "title": title,
                "artist": artist,
                "album": original,
                "file_extension": extension,
                "original_filename": original,
                "metadata": metadata,
            }
        ]
    )
    assert (summary.created, summary.failed) == (1, ())
    song = db.get_song(file_id)
    assert song is not None
    got = (song.file_id, song.filename, song.title, song.artist, song.album, song.file_extension, song.original_filename)
    assert got == (file_id, filename, title, artist, original, extension, original)
    assert song.metadata == metadata


@SETTINGS
@given(stem=text(50), path=text(1000), fmt=st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=16))
@example(stem=fit(EVERY_ESCAPE, 50), path=worst(1000), fmt='"\\/x')
@example(stem='"', path='C:\\stems\\vocals.wav', fmt="wav")
def test_stems_keep_their_names_and_paths(db: SongsDatabase, stem: str, path: str, fmt: str) -> None:
    song_id, job = claimed(db, "separation")
    db.add_separated_tracks(job.id, [{"stem_name": stem, "file_path": path, "format": fmt}], claim_token=job.claim_token)
    db.complete_job(job.id, job.claim_token, tracks=[{"stem_name": "other", "file_path": path[::-1]}])
    tracks = {t.stem_name: t for t in db.get_song_results(song_id).tracks}
    assert set(tracks) == {stem, "other"}
    assert (tracks[stem].file_path, tracks[stem].format) == (path, fmt.lower())
    assert tracks["other"].file_path == path[::-1]


@SETTINGS
@given(full_text=text(5000), language=text(20), model_name=text(50), segment=text(200))
@example(full_text=EVERY_ESCAPE * 300, language='"', model_name="\\", segment='a"')
@example(full_text=("Art \"Q\" said:\n\t\\o/ " * 5000)[:100_000], language="en", model_name='whisper "large"', segment="\\")
def test_transcripts_keep_their_text(db: SongsDatabase, full_text: str, language: str, model_name: str, segment: str) -> None:
    song_id, job = claimed(db, "transcription")
    segments = [{"start": 0.0, "end": 1.5, "text": segment}, {"text": full_text[:100]}]
    db.complete_job(
        job.id,
        job.claim_token,
        transcription={"full_text": full_text, "language": language, "model_name": model_name, "segments": segments},
    )
    (transcript,) = db.get_song_results(song_id).transcriptions
    assert (transcript.full_text, transcript.language, transcript.model_name) == (full_text, language, model_name)
    assert transcript.segments == segments


@SETTINGS
@given(model=text(50))
@example(model=EVERY_ESCAPE)
@example(model='model "q"')
@example(model=worst(50))
def test_enqueued_model_names_are_kept_and_claimed_by_the_same_name(db: SongsDatabase, model: str) -> None:
    model = fit(model, 40) + uuid.uuid4().hex[:10]  # unique per example; nvarchar(50), as the column
    song_id = db.create_song(f"file-{uuid.uuid4()}", "a.wav")
    (queued,) = db.enqueue_jobs(song_id, [{"model_name": model, "job_type": "chroma"}])
    assert queued.model_name == model
    job = db.claim_next_job("json-text", model_names=[model])
    assert job is not None and (job.id, job.model_name) == (queued.id, model)
