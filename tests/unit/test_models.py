"""Rows become frozen dataclasses: ids as UUID, times as aware UTC, JSON decoded, codes trimmed."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timezone

import pytest

from songsdb import models
from songsdb.errors import SongsDbError
from songsdb.models import Job, Song, columns, from_row

SONG_ID = uuid.uuid4()


def song_row(**changes):
    row = {
        "Id": str(SONG_ID).upper(),
        "FileId": "f-1",
        "Title": "Intro 😀",
        "Artist": None,
        "Album": None,
        "FileName": "a.mp3",
        "OriginalFileName": None,
        "FileSize": 10,
        "Duration": 1.5,
        "FileExtension": "mp3",
        "UploadedAt": datetime(2026, 1, 2, 3, 4, 5),
        "LastModified": "2026-01-02 03:04:05.123",
        "Metadata": '{"bpm": 120, "tags": ["a"]}',
        "Status": "uploaded  ",
    }
    row.update(changes)
    return list(row), list(row.values())


def test_a_song_row_maps_to_a_typed_frozen_song() -> None:
    song = from_row(Song, *song_row())
    assert song.id == SONG_ID
    assert song.uploaded_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert song.last_modified.tzinfo is timezone.utc and song.last_modified.microsecond == 123000
    assert song.metadata == {"bpm": 120, "tags": ["a"]}
    assert song.status == "uploaded"
    assert song.title == "Intro 😀"
    with pytest.raises(dataclasses.FrozenInstanceError):
        song.title = "x"  # type: ignore[misc]


def test_column_names_match_case_insensitively_and_in_any_order() -> None:
    names, values = song_row()
    song = from_row(Song, [n.lower() for n in reversed(names)], list(reversed(values)))
    assert song.file_id == "f-1"


def test_nulls_stay_none() -> None:
    song = from_row(Song, *song_row(Metadata=None, Duration=None))
    assert song.metadata is None and song.duration is None


def test_a_missing_column_is_an_error_naming_it() -> None:
    names, values = song_row()
    with pytest.raises(SongsDbError, match="'Status'"):
        from_row(Song, names[:-1], values[:-1])


def test_aware_datetimes_are_converted_to_utc() -> None:
    from datetime import timedelta

    plus_two = timezone(timedelta(hours=2))
    song = from_row(Song, *song_row(UploadedAt=datetime(2026, 1, 1, 12, 0, tzinfo=plus_two)))
    assert song.uploaded_at == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)


def test_every_model_declares_a_column_for_every_field_but_the_composites() -> None:
    for name in models.__all__:
        model = getattr(models, name)
        if dataclasses.is_dataclass(model) and model not in (
            models.SongResults, models.CleanupReport, models.RequestTrail, models.JobHistory, models.QueueMetrics
        ):
            assert len(columns(model)) == len(dataclasses.fields(model)), name


def test_job_ids_are_the_public_job_id_column() -> None:
    assert columns(Job)[0] == "JobId"


def test_datetime_text_parses_with_any_number_of_fractional_digits() -> None:
    from songsdb.models import parse_datetime_text

    assert parse_datetime_text("2026-01-01 10:00:00") == datetime(2026, 1, 1, 10, 0)
    assert parse_datetime_text("2026-01-01 10:00:00.1") == datetime(2026, 1, 1, 10, 0, 0, 100000)
    assert parse_datetime_text("2026-01-01T10:00:00.1234567") == datetime(2026, 1, 1, 10, 0, 0, 123456)
    assert parse_datetime_text("2026-01-01 10:00:00.12Z") == datetime(2026, 1, 1, 10, 0, 0, 120000, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="not a date"):
        parse_datetime_text("yesterday")


def test_a_row_reads_by_column_name_as_the_original_design_did() -> None:
    song = from_row(Song, *song_row())
    assert song["Title"] == song["title"] == song.title
    assert song["Id"] == song.id and song["FileId"] == song.file_id
    assert dict(song)["Artist"] == song.artist
    with pytest.raises(KeyError, match="no column 'Nope'"):
        song["Nope"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        song.title = "changed"  # type: ignore[misc]


def test_rows_with_json_fields_are_hashable_and_equal_by_value() -> None:
    a = from_row(Song, *song_row())
    b = from_row(Song, *song_row())
    assert isinstance(a.metadata, dict)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1


def eager_song() -> Song:
    """The same song built field by field through __init__, as a caller (or a test) would."""
    return Song(
        id=SONG_ID, file_id="f-1", title="Intro 😀", artist=None, album=None, filename="a.mp3",
        original_filename=None, file_size=10, duration=1.5, file_extension="mp3",
        uploaded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        last_modified=datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=timezone.utc),
        metadata={"bpm": 120, "tags": ["a"]}, status="uploaded",
    )


def test_a_row_converts_a_field_when_first_read_and_keeps_it() -> None:
    song = from_row(Song, *song_row())
    assert "uploaded_at" not in vars(song)  # nothing converted yet
    first = song.uploaded_at
    assert vars(song)["uploaded_at"] is first and song.uploaded_at is first
    assert "metadata" not in vars(song)


def test_a_lazily_converted_row_equals_hashes_and_prints_like_one_built_eagerly() -> None:
    lazy, eager = from_row(Song, *song_row()), eager_song()
    assert lazy == eager and hash(lazy) == hash(eager) and repr(lazy) == repr(eager)
    assert dataclasses.asdict(lazy) == dataclasses.asdict(eager)
    assert dataclasses.replace(lazy, title="x").title == "x"


def test_a_row_pickles_and_copies_with_its_values_not_the_drivers() -> None:
    import copy
    import pickle

    song = from_row(Song, *song_row())
    again = pickle.loads(pickle.dumps(song))
    assert again == eager_song() and "_songsdb_raw" not in vars(again)
    assert copy.copy(song) == song and copy.deepcopy(song) == song
