"""Bulk import on a real engine: good rows written, bad ones reported, chunks whole, audit rows kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from songsdb.bulk import BadRecord, ImportSummary
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.errors import ImportInterrupted

from .helpers import query


@pytest.fixture(scope="module")
def import_settings(databases) -> Settings:
    return databases.new(migrate=True)


@pytest.fixture(scope="module")
def db(import_settings: Settings) -> Iterator[SongsDatabase]:
    with SongsDatabase(import_settings) as client:
        yield client


def fid() -> str:
    return f"imp-{uuid.uuid4().hex[:12]}"


def stored(settings: Settings, file_ids: list[str]) -> dict[str, tuple]:
    rows = query(settings, "SELECT FileId, FileName, Title, FileSize, Duration FROM dbo.Songs")
    return {r[0]: tuple(r[1:]) for r in rows if r[0] in file_ids}


def test_a_chunk_with_bad_rows_and_duplicates_writes_exactly_the_good_rows(db: SongsDatabase, import_settings: Settings) -> None:
    a, b, c, old = fid(), fid(), fid(), fid()
    db.create_song(old, "old.mp3", title="Old")
    rows = [
        {"file_id": a, "filename": "a.mp3", "title": "A", "file_size": 10, "duration": 1.5, "metadata": {"bpm": 120}},
        {"file_id": b, "filename": ""},  # required
        {"file_id": c, "filename": "c.mp3", "title": "x" * 401},  # too long
        {"file_id": a, "filename": "again.mp3"},  # twice in the chunk
        {"file_id": old, "filename": "new.mp3", "title": "New"},  # stored already: skipped
        {"file_id": fid(), "filename": "d.mp3", "tempo": 120},  # not a song field (refused before sending)
        "not a row",
        BadRecord("line 9 is not valid JSON"),
    ]
    summary = db.import_songs(rows, request_id="req-import-1")
    assert (summary.created, summary.updated, summary.skipped) == (1, 0, 1)
    failed = {f.index: (f.parameter, f.number) for f in summary.failed}
    assert failed == {
        1: ("filename", 50001),
        2: ("title", 50002),
        3: ("file_id", 50102),
        5: ("tempo", 50002),
        6: (None, 50004),
        7: (None, 50004),
    }
    assert "filename is required" in summary.failed[0].message  # the caller's parameter name, not the JSON key
    assert stored(import_settings, [a, b, c, old]) == {a: ("a.mp3", "A", 10, 1.5), old: ("old.mp3", "Old", None, None)}
    assert set(summary.song_ids) == {a, old}
    assert db.get_song(a).metadata == {"bpm": 120} and db.get_song(a).id == summary.song_ids[a]


def test_every_created_song_has_its_audit_row_with_the_request_id(db: SongsDatabase) -> None:
    ids = [fid() for _ in range(5)]
    summary = db.import_songs([{"file_id": i, "filename": "a.mp3"} for i in ids], chunk_size=2, request_id="req-import-2")
    assert summary.created == 5 and not summary.failed
    trail = db.get_audit_trail(request_id="req-import-2")
    assert sorted(e.entity_id.lower() for e in trail) == sorted(str(summary.song_ids[i]) for i in ids)
    assert {(e.entity_type, e.action) for e in trail} == {("song", "created")}
    assert all(e.details["import"] is True for e in trail)


def test_on_duplicate_update_writes_the_given_values_and_keeps_the_rest(db: SongsDatabase, import_settings: Settings) -> None:
    f = fid()
    song_id = db.create_song(f, "a.mp3", title="Old", artist="Kept", file_size=5)
    summary = db.import_songs([{"file_id": f, "filename": "b.mp3", "title": "New"}], on_duplicate="update", request_id="req-import-3")
    assert summary.updated == 1 and summary.song_ids[f] == song_id
    song = db.get_song(f)
    assert (song.filename, song.title, song.artist, song.file_size) == ("b.mp3", "New", "Kept", 5)
    assert [e.action for e in db.get_audit_trail(request_id="req-import-3")] == ["updated"]


def test_progress_is_reported_after_every_chunk(db: SongsDatabase) -> None:
    seen: list[ImportSummary] = []
    db.import_songs(({"file_id": fid(), "filename": "a.mp3"} for _ in range(7)), chunk_size=3, on_progress=seen.append)
    assert [s.rows for s in seen] == [3, 6, 7]


def test_a_chunk_that_fails_as_a_whole_writes_nothing_and_the_chunks_before_it_stay(
    db: SongsDatabase, import_settings: Settings
) -> None:
    """The second chunk meets a constraint its validation does not know (added by a DBA meanwhile)."""
    first, second = [fid() for _ in range(3)], [fid() for _ in range(3)]
    constraint = f"CK_Songs_Test_{uuid.uuid4().hex[:8]}"

    def add_constraint_after_first_chunk(summary: ImportSummary) -> None:
        if summary.rows == 3:
            query(import_settings, f"ALTER TABLE dbo.Songs ADD CONSTRAINT {constraint} CHECK (FileName <> N'boom.mp3');")

    rows = [{"file_id": i, "filename": "a.mp3"} for i in first]
    rows += [{"file_id": second[0], "filename": "a.mp3"}, {"file_id": second[1], "filename": "boom.mp3"}, {"file_id": second[2], "filename": "a.mp3"}]
    try:
        with pytest.raises(ImportInterrupted) as raised:
            db.import_songs(rows, chunk_size=3, on_progress=add_constraint_after_first_chunk, request_id="req-import-4")
    finally:
        query(import_settings, f"ALTER TABLE dbo.Songs DROP CONSTRAINT {constraint};")
    assert raised.value.next_index == 3 and raised.value.summary.created == 3
    assert set(stored(import_settings, first + second)) == set(first)
    assert len(db.get_audit_trail(request_id="req-import-4")) == 3  # the failed chunk's audit rows went with it


def test_the_import_command_reads_a_csv_prints_the_summary_and_fails_when_a_row_failed(
    import_settings: Settings, tmp_path, capsys
) -> None:
    from songsdb.cli import main

    good, bad = fid(), fid()
    path = tmp_path / "catalogue.csv"
    path.write_text(f"file_id,filename,file_size\n{good},a.mp3,10\n{bad},b.mp3,lots\n", encoding="utf-8")
    code = main(["--connection-string", import_settings.odbc(), "import", str(path), "--chunk-size", "10"])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 created, 0 updated, 0 skipped, 1 failed" in out
    assert f"row 1 ({bad}): file_size: file_size must be a whole number of bytes" in out
    assert set(stored(import_settings, [good, bad])) == {good}


def test_a_hostile_json_lines_file_writes_only_its_good_rows_and_names_every_bad_one(
    import_settings: Settings, tmp_path, capsys
) -> None:
    from songsdb.cli import main

    good = [fid(), fid()]
    lines = [
        json.dumps({"file_id": good[0], "filename": "a.mp3", "metadata": {"bpm": 90}}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"file_id": fid(), "filename": "a.mp3", "file_size": -1}),
        json.dumps({"file_id": fid(), "filename": "nul\u0000.mp3"}),
        json.dumps({"file_id": "x" * 5000, "filename": "a.mp3"}),
        json.dumps({"file_id": fid(), "filename": "a.mp3", "title": "'; DROP TABLE dbo.Songs; --"}),
        json.dumps({"file_id": fid(), "filename": "a.mp3", "duration": "1e999"}),
        json.dumps({"file_id": good[1], "filename": "b.mp3", "title": "Ünïcødé 🎵"}),
        json.dumps({"file_id": good[1], "filename": "again.mp3"}),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["--connection-string", import_settings.odbc(), "import", str(path), "--show-failures", "50"])
    out = capsys.readouterr().out
    assert code == 1
    assert "3 created, 0 updated, 0 skipped, 7 failed" in out  # the SQL-looking title is just a title
    for fragment in (
        "row 1: line 2 is not valid JSON",
        "row 2: a row must be a mapping",
        "file_size: file_size is not supported",
        "filename: filename must not contain NUL",
        "file_id: file_id is too long (",  # 5000 characters; Babelfish's OPENJSON reports 4000
        "duration: duration must be a finite number",
        "file_id: file_id '" + good[1] + "' appears more than once",
    ):
        assert fragment in out, fragment
    assert query(import_settings, "SELECT Title FROM dbo.Songs WHERE FileId = ?", good[1]) == [("Ünïcødé 🎵",)]
    assert query(import_settings, "SELECT COUNT(*) FROM dbo.Songs WHERE Title = N'''; DROP TABLE dbo.Songs; --'") == [(1,)]


def test_long_values_arrive_whole(db: SongsDatabase) -> None:
    """Babelfish 4.2's OPENJSON ... WITH cuts nvarchar(max) values at 4000 characters; the import does not use it."""
    f = fid()
    metadata = {"lyrics": "la " * 3000, "tags": list(range(500))}
    summary = db.import_songs([{"file_id": f, "filename": "n" * 250 + ".mp3", "metadata": metadata}])
    assert summary.created == 1
    song = db.get_song(f)
    assert song.metadata == metadata and song.filename == "n" * 250 + ".mp3"


def test_a_bad_on_duplicate_is_a_validation_error_naming_the_choices(db: SongsDatabase) -> None:
    from songsdb.errors import ValidationError

    with pytest.raises(ValidationError, match="@OnDuplicate.*skip, update"):
        db.import_songs([{"file_id": fid(), "filename": "a.mp3"}], on_duplicate="replace")  # type: ignore[arg-type]
