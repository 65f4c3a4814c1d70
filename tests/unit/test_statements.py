"""The call texts and the values sent: the only SQL text the client builds."""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from songsdb import errors
from songsdb.params import _json_names
from songsdb.statements import statement

NAMES = st.lists(st.from_regex(r"[A-Z][A-Za-z]{0,12}", fullmatch=True), min_size=0, max_size=12, unique=True)
VALUES = st.one_of(
    st.none(),
    st.integers(-(2**31), 2**31 - 1),
    st.booleans(),
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.uuids(),
)


def sent_form(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


@given(NAMES.flatmap(lambda names: st.tuples(st.just(names), st.lists(VALUES, min_size=len(names), max_size=len(names)))))
def test_exec_names_exactly_the_given_arguments_in_order_and_sends_their_values(case: tuple[list[str], list[Any]]) -> None:
    names, values = case
    params = dict(zip(names, values))
    text, sent = statement("api.Proc", params, "exec")
    given = [(n, v) for n, v in params.items() if v is not None]
    assert re.findall(r"@(\w+) = \?", text) == [n for n, _ in given]
    assert text.startswith("EXEC api.Proc") and text.endswith(";") and text.count("?") == len(sent)
    assert sent == [sent_form(v) for _, v in given]


@given(st.lists(VALUES, max_size=12))
def test_the_call_escape_sends_every_argument_up_to_the_last_given_one(values: list[Any]) -> None:
    params = {f"P{i}": v for i, v in enumerate(values)}
    text, sent = statement("api.Proc", params, "call")
    last = max((i for i, v in enumerate(values) if v is not None), default=-1)
    assert sent == [sent_form(v) for v in values[: last + 1]]
    assert text == ("{CALL api.Proc (" + ", ".join("?" * len(sent)) + ")}" if sent else "{CALL api.Proc}")


def test_the_same_procedure_called_with_other_names_gets_its_own_text() -> None:
    # a bench or a test may call a procedure with a subset of its parameters: texts must not mix
    first, _ = statement("api.Mixed", {"A": 1, "B": None, "C": 3}, "exec")
    second, _ = statement("api.Mixed", {"A": 1, "C": 3}, "exec")
    third, _ = statement("api.Mixed", {"A": 1, "B": 2, "C": None}, "exec")
    assert first == second == "EXEC api.Mixed @A = ?, @C = ?;"
    assert third == "EXEC api.Mixed @A = ?, @B = ?;"


@pytest.mark.parametrize("style", ["exec", "call"])
@pytest.mark.parametrize(
    ("value", "message"),
    [("a\x00b", "@Bad must not contain NUL"), (math.nan, "@Bad must be a finite number"), (-math.inf, "@Bad must be a finite")],
)
def test_what_no_engine_stores_is_refused_naming_the_parameter(style: str, value: Any, message: str) -> None:
    with pytest.raises(errors.ValidationError, match=message):
        statement("api.Proc", {"Good": "x", "Bad": value, "Later": 1}, style)


def test_a_long_string_under_freetds_falls_back_to_exec_only_when_it_is_over_4000_bytes() -> None:
    short, _ = statement("api.Proc", {"A": "x" * 2000, "B": None}, "call")
    wide, _ = statement("api.Proc", {"A": "ü" * 1500, "B": None}, "call")  # 1500 characters, 3000 bytes of UTF-16
    long, sent = statement("api.Proc", {"A": "x" * 2001, "B": None}, "call")
    assert short == "{CALL api.Proc (?)}" and wide == "{CALL api.Proc (?)}"
    assert long == "EXEC api.Proc @A = ?;" and sent == ["x" * 2001]


class Text(str):
    """A str subclass (a StrEnum member, say): checked and measured like a str."""


def test_str_subclasses_are_checked_and_measured_like_str() -> None:
    with pytest.raises(errors.ValidationError, match="@A must not contain NUL"):
        statement("api.Proc", {"A": Text("a\x00")}, "exec")
    long, sent = statement("api.Proc", {"A": Text("x" * 2001)}, "call")
    assert long == "EXEC api.Proc @A = ?;" and sent == ["x" * 2001]


@given(st.lists(st.text(max_size=20), max_size=5))
def test_name_lists_are_the_json_arrays_json_would_write(names: list[str]) -> None:
    assert json.loads(_json_names("job_types", names) or "null") == names
    assert _json_names("job_types", tuple(names)) == _json_names("job_types", names)


def test_name_lists_of_other_things_are_not_cached_and_still_checked() -> None:
    assert _json_names("job_types", None) is None
    assert _json_names("job_types", [1, True]) == "[1, true]"  # (1,) and (True,) hash alike: never cached
    assert _json_names("job_types", [True]) == "[true]"
    with pytest.raises(errors.ValidationError, match="job_types"):
        _json_names("job_types", [object()])  # type: ignore[list-item]


def test_one_string_where_a_list_of_names_belongs_is_refused_with_the_fix() -> None:
    with pytest.raises(errors.ValidationError, match=r"job_types must be a list of names, not one string: write \['separation'\]"):
        _json_names("job_types", "separation")


def test_an_int_past_bigint_is_refused_naming_the_parameter_before_anything_is_sent() -> None:
    from songsdb import errors

    for style in ("exec", "call"):
        with pytest.raises(errors.ValidationError, match="@Offset must be a whole number") as info:
            statement("api.ListSongs", {"Offset": 10**20, "Limit": 5}, style)
        assert (info.value.parameter, info.value.server_parameter) == ("offset", "@Offset")
    assert statement("api.ListSongs", {"Offset": 2**63 - 1, "Limit": -(2**63)}, "exec")[1] == [2**63 - 1, -(2**63)]
