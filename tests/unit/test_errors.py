"""Error numbers in messages become typed exceptions; the SQL and Python catalogues agree."""

from __future__ import annotations

import re

import pytest

from songsdb import errors
from songsdb.errors import CATALOGUE, map_database_error, native_error_number, server_message
from songsdb.migrations import discover, sql_root


class FakePyodbcError(Exception):
    """Shaped like pyodbc.ProgrammingError: (sqlstate, message)."""


def err(state: str, text: str) -> FakePyodbcError:
    return FakePyodbcError(state, text)


def test_the_native_number_is_read_from_the_message_text() -> None:
    e = err("42000", "[42000] [FreeTDS][SQL Server]Song not found (50101) (SQLExecDirectW)")
    assert native_error_number(e) == 50101
    assert server_message(e) == "Song not found"
    assert native_error_number(err("HY000", "no number here")) is None


@pytest.mark.parametrize(("number", "cls"), [(n, e.error) for n, e in CATALOGUE.items()])
def test_every_catalogue_number_maps_to_its_class(number: int, cls: type) -> None:
    mapped = map_database_error(err("42000", f"[42000] [Microsoft][ODBC Driver 18]Boom ({number}) (SQLExecDirectW)"), "api.X")
    assert type(mapped) is cls
    assert str(mapped) == "api.X: Boom"


def test_login_failures_and_missing_databases_and_lost_connections_are_told_apart() -> None:
    assert isinstance(map_database_error(err("28000", "[28000] Login failed for user 'sa'. (18456) (SQLDriverConnect)")), errors.LoginFailed)
    assert isinstance(map_database_error(err("42000", "Cannot open database \"x\" (4060) (SQLDriverConnect)")), errors.DatabaseMissing)
    assert isinstance(map_database_error(err("08001", "[08001] Unable to connect (0) (SQLDriverConnect)")), errors.DatabaseUnavailable)
    assert isinstance(map_database_error(err("08S01", "Communication link failure (10054) (SQLExecDirectW)")), errors.DatabaseUnavailable)


def test_a_unique_violation_on_file_id_is_a_duplicate_song_and_others_stay_unmapped() -> None:
    dup = err("23000", "Violation of UNIQUE KEY constraint 'UQ_Songs_FileId'. Cannot insert duplicate key (2627) (SQLExecDirectW)")
    assert isinstance(map_database_error(dup), errors.DuplicateSong)
    other = err("23000", "Violation of UNIQUE KEY constraint 'UQ_Other'. (2627) (SQLExecDirectW)")
    assert map_database_error(other) is other


def test_unknown_errors_come_back_unchanged() -> None:
    e = err("42S02", "Invalid object name 'x'. (208) (SQLExecDirectW)")
    assert map_database_error(e) is e


def test_the_classes_subclass_the_matching_builtins() -> None:
    assert issubclass(errors.ValidationError, ValueError)
    assert issubclass(errors.NotFound, LookupError)
    assert issubclass(errors.DatabaseUnavailable, ConnectionError)
    assert issubclass(errors.SongNotFound, errors.NotFound) and issubclass(errors.JobNotFound, errors.NotFound)


def thrown_numbers() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for script in discover(sql_root()):
        for match in re.finditer(r"\bTHROW\s+(5\d{4})\s*,", script.source, re.IGNORECASE):
            found.setdefault(int(match.group(1)), []).append(script.name)
    return found


def test_every_number_the_sql_throws_is_in_the_python_catalogue() -> None:
    unknown = {n: where for n, where in thrown_numbers().items() if n not in CATALOGUE}
    assert unknown == {}


def test_every_catalogue_number_is_thrown_somewhere_in_the_sql() -> None:
    thrown = thrown_numbers()
    assert thrown, "no THROW found at all: the scan is broken"
    assert sorted(set(CATALOGUE) - set(thrown)) == []


def test_every_throw_message_names_a_parameter_or_the_situation() -> None:
    for script in discover(sql_root()):
        for match in re.finditer(r"\bTHROW\s+(5\d{4})\s*,\s*N?'((?:[^']|'')*)'", script.source, re.IGNORECASE):
            number, message = int(match.group(1)), match.group(2)
            if CATALOGUE[number].error is errors.ValidationError:
                assert "@" in message and "upported values" in message or "required" in message, (script.name, message)


def test_a_driver_the_manager_cannot_load_is_driver_not_found() -> None:
    e = err("01000", "[01000] [unixODBC][Driver Manager]Can't open lib 'ODBC Driver 18 for SQL Server' : file not found (0) (SQLDriverConnect)")
    mapped = map_database_error(e)
    assert isinstance(mapped, errors.DriverNotFound) and "tdsodbc" in str(mapped)


def test_the_catalogue_number_wins_over_a_trailing_transaction_count_record() -> None:
    text = (
        "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]No processing job has @JobId = 'x'. (50201) "
        "(SQLExecDirectW); [25000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Transaction count after "
        "EXECUTE indicates a mismatching number of BEGIN and COMMIT statements. Previous count = 1, current count = 0. (266)"
    )
    e = err("42000", text)
    assert native_error_number(e) == 50201
    mapped = map_database_error(e, "api.UpdateJobStatus")
    assert isinstance(mapped, errors.JobNotFound)
    assert str(mapped) == "api.UpdateJobStatus: No processing job has @JobId = 'x'."


def test_the_new_catalogue_numbers_map_to_their_classes() -> None:
    from songsdb import errors as e

    def err(n: int) -> Exception:
        return type("Error", (Exception,), {"__module__": "pyodbc"})("42000", f"[42000] [FreeTDS][SQL Server]text ({n}) (SQLExecDirectW)")

    assert isinstance(e.map_database_error(err(50005)), e.TransactionNotAllowed)
    assert isinstance(e.map_database_error(err(50204)), e.JobHeld)
    assert isinstance(e.map_database_error(err(50204)), e.InvalidStatusTransition)


def test_permission_errors_say_which_role_runs_what() -> None:
    from songsdb import errors as e

    sql_server = type("Error", (Exception,), {"__module__": "pyodbc"})(
        "42000", "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]The EXECUTE permission was denied on the object 'ClaimNextJob' (229) (SQLExecDirectW)"
    )
    mapped = e.map_database_error(sql_server, "worker.ClaimNextJob")
    assert isinstance(mapped, e.PermissionDenied) and isinstance(mapped, PermissionError)
    assert "songsdb_worker runs worker.*" in str(mapped) and "worker.ClaimNextJob" in str(mapped)


from hypothesis import given, strategies as st  # noqa: E402


def freetds_error(message: str, number: int, trailer: int | None = None) -> Exception:
    text = f"[42000] [FreeTDS][SQL Server]{message} ({number}) (SQLExecDirectW)"
    if trailer is not None:
        text += (
            f"; [25000] [FreeTDS][SQL Server]Transaction count after EXECUTE indicates a mismatching number of "
            f"BEGIN and COMMIT statements. Previous count = 1, current count = 0. ({trailer})"
        )
    return type("Error", (Exception,), {"__module__": "pyodbc"})("42000", text)


def test_a_file_id_that_reads_like_an_error_number_does_not_change_the_error() -> None:
    from songsdb import errors as e

    for file_id in ("x (50101)", "x (50101) (SQLExecDirectW)", "a (50101) (SQLExecDirectW); [42000] [FreeTDS][SQL Server]b"):
        error = freetds_error(f"A song with @FileId = '{file_id}' already exists.", 50102, trailer=266)
        assert native_error_number(error) == 50102
        assert isinstance(map_database_error(error), e.DuplicateSong)


@given(
    user_text=st.text(max_size=120),
    number=st.sampled_from(sorted(CATALOGUE) + [2627, 547, 1205, 8114]),
    trailer=st.sampled_from([None, 266, 3998]),
)
def test_no_user_text_can_change_the_error_number_the_parser_reads(user_text: str, number: int, trailer: int | None) -> None:
    error = freetds_error(f"The value for the parameter @FileId = '{user_text}' is not supported.", number, trailer)
    assert native_error_number(error) == number


def test_an_import_stopped_by_a_lost_answer_never_says_its_chunk_wrote_nothing() -> None:
    """A chunk whose answer was lost (OutcomeUnknown) may have committed: the fault matrix saw it do so."""
    from songsdb.bulk import ImportSummary

    def stopped(cause: BaseException) -> errors.ImportInterrupted:
        try:
            try:
                raise cause
            except errors.SongsDbError as exc:
                raise errors.ImportInterrupted(ImportSummary(2, 0, 0, (), {}), 1000) from exc
        except errors.ImportInterrupted as interrupted:
            return interrupted

    lost = stopped(errors.OutcomeUnknown("api.ImportSongs: the connection was lost"))
    assert "may or may not have been written" in str(lost) and "wrote nothing" not in str(lost)
    assert "Run it again from row 1000" in str(lost)
    refused = stopped(errors.NotConnected("cannot reach SQL Server"))
    assert "that chunk wrote nothing" in str(refused) and "may or may not" not in str(refused)
