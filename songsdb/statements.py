"""The only SQL text the client builds: one call of one procedure, and the values it sends.

Two ways to write a call, chosen per driver:

``exec`` (Microsoft's ODBC Driver 18, and any other)
    ``EXEC schema.Proc @A = ?, @B = ?;`` with only the arguments that are not None, so no driver
    spends a round trip describing a None (every optional parameter defaults to what None means).
``call`` (FreeTDS, which re-prepares an EXEC text on every execution: sp_unprepare then sp_prepexec)
    the ODBC call escape ``{CALL schema.Proc (?, ?)}``, which FreeTDS sends as one RPC naming the
    procedure. It is positional, so Nones before the last given argument travel as NULL (FreeTDS
    describes none). FreeTDS cannot send a string of more than 2000 characters (4000 bytes) through
    the call escape (measured: "The driver did not supply an error!"), so such a call uses the
    EXEC text.

Besides the calls, one constant batch, ``SESSION_SETUP``, runs once on every new connection.

A statement is built on every call, so this is written for speed: one pass over the arguments,
and each text made once (per procedure and the names given, or the number sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from songsdb.params import BIGINT, _param

__all__ = ["statement", "SESSION_SETUP"]

# Run once per new connection (one request). On Babelfish it makes the session plan every statement
# of a procedure with its actual values (plan_cache_mode = force_custom_plan). PostgreSQL otherwise
# switches a procedure's statements to a cached generic plan after five calls; made while a table
# was small, that plan is a sequential scan, and it stays until the table is analysed again (a
# minute or more after a bulk load), so every lookup on that long-lived connection scans the whole
# table (measured: 0.4 ms -> 30-45 ms at 60,000 songs). SQL Server recompiles on statistics changes
# and skips the batch. Measured cost on Babelfish: about 70 us of planning per call (bench/long_lived.py
# and README, "Engines"); a DBA can set plan_cache_mode for the whole database instead.
SESSION_SETUP = (
    "IF @@VERSION LIKE N'%Babelfish%' EXEC (N'DECLARE @Mode nvarchar(100) = "
    "(SELECT set_config(''plan_cache_mode'', ''force_custom_plan'', ''false''));');"
)

_EXEC_TEXTS: dict[tuple[str, ...], str] = {}  # (procedure, *names given): its EXEC text
_CALL_TEXTS: dict[tuple[str, int], str] = {}  # (procedure, number of arguments sent): its call escape
_MAX_TEXTS = 4096  # bounded: the keys come from the client's own calls, not from users


def statement(procedure: str, params: Mapping[str, Any], style: str) -> tuple[str, list[Any]]:
    """The call's text and the values it sends, in the order of ``params`` (the procedure's order).

    Refuses, naming the parameter, what no engine stores: NUL in text, NaN or infinity.
    """
    call = style == "call"
    sent: list[Any] = []
    names: list[str] = []
    long_text = False
    for name, value in params.items():
        if value is not None:
            kind = type(value)
            if kind is str:
                if len(value) > 1000:
                    long_text = True
                if "\x00" in value:
                    _param(name, value)  # raises, naming the parameter
            elif kind is int:
                if not -BIGINT <= value < BIGINT:
                    _param(name, value)  # raises, naming the parameter
            elif kind is not bool:
                value = _param(name, value)  # a UUID as text; NaN, infinity or NUL refused
                long_text = long_text or (isinstance(value, str) and len(value) > 1000)  # a str subclass
        elif not call:
            continue  # EXEC: a None is not sent at all
        sent.append(value)
        names.append(name)
    if not call:
        key = (procedure, *names)
        text = _EXEC_TEXTS.get(key)
        if text is None:
            text = _remember(_EXEC_TEXTS, key, _exec_text(procedure, names))
        return text, sent
    while sent and sent[-1] is None:  # trailing Nones are left to the procedure's defaults
        sent.pop()
    if long_text and any(isinstance(v, str) and _too_long_for_call(v) for v in sent):
        return statement(procedure, params, "exec")
    counted = (procedure, len(sent))
    text = _CALL_TEXTS.get(counted)
    if text is None:
        text = _remember(_CALL_TEXTS, counted, _call_escape(procedure, len(sent)))
    return text, sent


def _remember(texts: dict[Any, str], key: Any, text: str) -> str:
    if len(texts) < _MAX_TEXTS:
        texts[key] = text
    return text


def _too_long_for_call(value: str) -> bool:
    """More than 4000 bytes of UTF-16: pyodbc binds it as data-at-execution, which FreeTDS's RPC path refuses."""
    return len(value) > 1000 and len(value.encode("utf-16-le")) > 4000


def _exec_text(procedure: str, names: list[str]) -> str:
    return f"EXEC {procedure}" + "".join(f"{' ' if i == 0 else ', '}@{n} = ?" for i, n in enumerate(names)) + ";"


def _call_escape(procedure: str, count: int) -> str:
    return "{CALL " + procedure + (" (" + ", ".join("?" * count) + ")" if count else "") + "}"
