"""Bulk import's pure half: rows checked and encoded per chunk, outcomes tallied, files read."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from songsdb.bulk import FIELDS, BadRecord, Tally, chunks, encode_chunk, import_rows, read_rows
from songsdb.errors import DatabaseUnavailable, DuplicateSong, ImportInterrupted, ValidationError
from songsdb.models import ImportOutcome, from_rows

OUTCOME_COLUMNS = ["Ordinal", "FileId", "Outcome", "SongId", "ErrorNumber", "Parameter", "Error"]


def test_rows_travel_with_the_procedures_keys_and_without_nulls() -> None:
    text, sent, failures = encode_chunk(
        [(0, {"file_id": "f", "filename": "a.mp3", "title": None, "file_size": 3, "metadata": {"bpm": 1}})]
    )
    assert json.loads(text) == [{"fileId": "f", "fileName": "a.mp3", "fileSize": 3, "metadata": {"bpm": 1}}]
    assert sent == [0] and failures == []


def test_metadata_given_as_json_text_travels_as_an_object() -> None:
    text, _, _ = encode_chunk([(0, {"file_id": "f", "filename": "a", "metadata": '{"k": [1]}'})])
    assert json.loads(text)[0]["metadata"] == {"k": [1]}


def test_what_json_cannot_carry_is_refused_with_the_index_and_parameter() -> None:
    rows = [
        (4, {"file_id": "a", "filename": "a", "tempo": 1}),
        (5, {"file_id": "b", "filename": 7}),
        (6, {"file_id": "c", "filename": "a", "file_size": True}),
        (7, {"file_id": "d", "filename": "a", "duration": math.nan}),
        (8, {"file_id": "e", "filename": "a\x00b"}),
        (9, {"file_id": "f", "filename": "a", "metadata": "[1, 2]"}),
        (10, {"file_id": "g", "filename": "a", "metadata": {"x": {1, 2}}}),
        (11, ["f", "a.mp3"]),
        (12, BadRecord("line 13 is not valid JSON")),
        (13, {"file_id": "ok", "filename": "a"}),
    ]
    text, sent, failures = encode_chunk(rows)
    assert [(f.index, f.parameter) for f in failures] == [
        (4, "tempo"), (5, "filename"), (6, "file_size"), (7, "duration"), (8, "filename"),
        (9, "metadata"), (10, "metadata"), (11, None), (12, None),
    ]
    assert failures[0].file_id == "a" and "Supported fields are file_id" in failures[0].message
    assert failures[-1].message == "line 13 is not valid JSON"
    assert sent == [13] and json.loads(text) == [{"fileId": "ok", "fileName": "a"}]


def test_metadata_text_that_only_python_parses_is_refused_and_the_chunk_still_encodes() -> None:
    # Python's json.loads takes NaN and Infinity, which are not JSON: such a row used to pass the
    # check and then break the chunk's json.dumps (allow_nan=False) with a bare ValueError
    rows = [
        (0, {"file_id": "nan", "filename": "a", "metadata": '{"x": NaN}'}),
        (1, {"file_id": "inf", "filename": "a", "metadata": '{"x": [Infinity]}'}),
        (2, {"file_id": "ok", "filename": "a", "metadata": '{"x": 1}'}),
    ]
    text, sent, failures = encode_chunk(rows)
    assert [(f.index, f.parameter, f.number) for f in failures] == [(0, "metadata", 50002), (1, "metadata", 50002)]
    assert "without NaN or infinity" in failures[0].message
    assert sent == [2] and json.loads(text) == [{"fileId": "ok", "fileName": "a", "metadata": {"x": 1}}]


def test_chunks_number_the_rows_and_read_them_lazily() -> None:
    pulled = []

    def rows():
        for i in range(5):
            pulled.append(i)
            yield {"n": i}

    stream = chunks(rows(), 2)
    first = next(stream)
    assert first == [(0, {"n": 0}), (1, {"n": 1})] and pulled == [0, 1]
    assert [len(c) for c in stream] == [2, 1]


def test_outcomes_are_tallied_against_the_callers_indexes_in_its_words() -> None:
    song = uuid.uuid4()
    outcomes = from_rows(
        ImportOutcome,
        OUTCOME_COLUMNS,
        [
            (0, "a", "created", str(song), None, None, None),
            (1, "b", "failed", None, 50001, "fileName", "fileName is required. Supported values are text of 1 to 260 characters."),
            (2, "c", "skipped", str(uuid.uuid4()), None, None, None),
        ],
    )
    tally = Tally()
    tally.add(outcomes, sent=[10, 12, 15])
    summary = tally.summary()
    assert (summary.created, summary.skipped, summary.rows) == (1, 1, 3)
    (failure,) = summary.failed
    assert (failure.index, failure.parameter, failure.number) == (12, "filename", 50001)
    assert failure.message.startswith("filename is required")
    assert summary.song_ids["a"] == song and "b" not in summary.song_ids


def test_csv_rows_have_numbers_nulls_and_text_where_the_fields_want_them(tmp_path: Path) -> None:
    path = tmp_path / "songs.csv"
    path.write_text(
        "file_id,filename,file_size,duration,title,metadata\n"
        'a,a.mp3,10,1.5,,"{""bpm"": 1}"\n'
        "b,b.mp3,ten,,Tune,\n"
        "c,c.mp3,1,2,T,{},surplus\n",
        encoding="utf-8",
    )
    rows = list(read_rows(path))
    assert rows[0] == {"file_id": "a", "filename": "a.mp3", "file_size": 10, "duration": 1.5, "title": None, "metadata": '{"bpm": 1}'}
    assert rows[1]["file_size"] == "ten"  # left as text: the row fails naming file_size
    assert rows[2] == BadRecord("line 4 has more cells than the header")
    _, sent, failures = encode_chunk(list(enumerate(rows)))
    assert sent == [0] and [(f.index, f.parameter) for f in failures] == [(1, "file_size"), (2, None)]


def test_json_lines_skip_blanks_and_report_a_bad_line_by_number(tmp_path: Path) -> None:
    path = tmp_path / "songs.jsonl"
    path.write_text('{"file_id": "a", "filename": "a.mp3"}\n\n{oops\n{"file_id": "b", "filename": "b.mp3"}\n', encoding="utf-8")
    rows = list(read_rows(path))
    assert rows[0] == {"file_id": "a", "filename": "a.mp3"} and rows[2] == {"file_id": "b", "filename": "b.mp3"}
    assert isinstance(rows[1], BadRecord) and rows[1].message.startswith("line 3 is not valid JSON")



def test_a_file_of_another_format_is_a_configuration_error_naming_the_formats(tmp_path: Path) -> None:
    from songsdb.errors import ConfigurationError

    for name, given_format in (("songs.txt", None), ("songs", None), ("songs.csv", "xml")):
        path = tmp_path / name
        path.write_text("file_id,filename\na,a.mp3\n", encoding="utf-8")
        with pytest.raises(ConfigurationError, match=r"the formats are csv .* and jsonl") as raised:
            read_rows(path, given_format)
        assert isinstance(raised.value, ValueError) and "\n" not in str(raised.value)
    assert list(read_rows(tmp_path / "songs.txt", "csv")) == [{"file_id": "a", "filename": "a.mp3"}]  # --format wins

text_values = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30))
valid_rows = st.fixed_dictionaries(
    {"file_id": st.text(min_size=1, max_size=20, alphabet="abcdef0123"), "filename": text_values},
    optional={
        "title": text_values,
        "file_size": st.one_of(st.none(), st.integers(min_value=-(10**18), max_value=10**18)),
        "duration": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
        "metadata": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    },
)
any_rows = st.one_of(valid_rows, st.dictionaries(st.text(max_size=8), st.integers(), max_size=3), st.integers(), st.text(max_size=5))


@given(st.lists(any_rows, max_size=20))
def test_every_row_is_either_sent_or_refused_and_what_is_sent_is_what_was_given(rows: list) -> None:
    text, sent, failures = encode_chunk(list(enumerate(rows)))
    assert sorted(sent + [f.index for f in failures]) == list(range(len(rows)))
    objects = json.loads(text)
    assert len(objects) == len(sent)
    for index, obj in zip(sent, objects):
        given_values = {FIELDS[k]: v for k, v in rows[index].items() if v is not None}
        assert obj == given_values


def test_a_chunk_stays_below_lock_escalation_and_is_the_procedures_own_limit() -> None:
    # SQL Server escalates a statement's row locks to a table lock at 5,000 locks on one index or
    # table; a full chunk takes one key lock per row on PK_Songs, UQ_Songs_FileId and PK_AuditLog
    import re

    from songsdb.bulk import MAX_CHUNK
    from songsdb.migrations import sql_root

    assert MAX_CHUNK == 4000
    procedure = (sql_root() / "procs" / "api.ImportSongs.sql").read_text(encoding="utf-8")
    [limit] = re.findall(r"IF @Count < 1 OR @Count > (\d+)", procedure)
    assert int(limit) == MAX_CHUNK
    assert f"a JSON array of 1 to {MAX_CHUNK} songs" in procedure


def created(text: str) -> list[ImportOutcome]:
    """What api.ImportSongs answers when it creates every row of a chunk's JSON text."""
    rows = json.loads(text)
    return from_rows(
        ImportOutcome, OUTCOME_COLUMNS,
        [(i, row["fileId"], "created", str(uuid.uuid4()), None, None, None) for i, row in enumerate(rows)],
    )


def test_an_import_sends_one_chunk_per_call_and_reports_progress_after_each() -> None:
    sent: list[int] = []
    progress: list[int] = []

    def send(text: str) -> list[ImportOutcome]:
        sent.append(len(json.loads(text)))
        return created(text)

    rows = [{"file_id": f"f{i}", "filename": "a.mp3"} for i in range(5)] + [{"file_id": "bad", "nope": 1}]
    summary = import_rows(rows, 2, send, lambda s: progress.append(s.rows))
    assert sent == [2, 2, 1]  # the refused row never travels
    assert progress == [2, 4, 6] and summary.created == 5 and [f.index for f in summary.failed] == [5]


def test_a_chunk_refused_as_a_concurrent_duplicate_is_sent_once_more_and_then_stops_the_import() -> None:
    calls: list[str] = []

    def flaky(text: str) -> list[ImportOutcome]:
        calls.append(text)
        if len(calls) == 2:  # the second chunk's first try: another call stored one of its file ids meanwhile
            raise DuplicateSong("a song with that file id already exists", number=50102)
        return created(text)

    rows = [{"file_id": f"f{i}", "filename": "a.mp3"} for i in range(4)]
    assert import_rows(rows, 2, flaky).created == 4 and len(calls) == 3

    def always(text: str) -> list[ImportOutcome]:
        raise DuplicateSong("a song with that file id already exists", number=50102)

    with pytest.raises(ImportInterrupted) as info:
        import_rows(rows, 2, always)
    assert info.value.next_index == 0 and info.value.summary.rows == 0


def test_an_import_stopped_by_an_outage_says_what_the_earlier_chunks_did_and_where_to_go_on() -> None:
    calls = 0

    def outage_at_second_chunk(text: str) -> list[ImportOutcome]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise DatabaseUnavailable("the server is gone")
        return created(text)

    rows = [{"file_id": f"f{i}", "filename": "a.mp3"} for i in range(5)]
    with pytest.raises(ImportInterrupted) as info:
        import_rows(rows, 2, outage_at_second_chunk)
    assert info.value.next_index == 2 and info.value.summary.created == 2
    assert isinstance(info.value.__cause__, DatabaseUnavailable)


def test_wrong_arguments_are_raised_as_they_are_not_as_an_interrupted_import() -> None:
    def refuses(text: str) -> list[ImportOutcome]:
        raise ValidationError("@OnDuplicate is not one of its allowed values", number=50003)

    with pytest.raises(ValidationError, match="OnDuplicate"):
        import_rows([{"file_id": "f", "filename": "a.mp3"}], 1, refuses)
    for size in (0, 4001, True, 2.0):
        with pytest.raises(ValidationError, match="chunk_size"):
            import_rows([], size, refuses)  # type: ignore[arg-type]
