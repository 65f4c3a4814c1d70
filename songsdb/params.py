"""Turning Python values into procedure parameters: ids, JSON, numbers, text. Refuses what no engine stores."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from typing import Any

from songsdb.errors import ValidationError

__all__ = ["Id", "_uuid_param", "_json_param", "_json_names", "_param"]

Id = uuid.UUID | str


def _uuid_param(name: str, value: Id | None) -> str | None:
    if value is None:
        return None
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        raise ValidationError(f"{name} must be a UUID (got {value!r})") from None


def _json_param(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be JSON-serialisable without NaN or infinity ({exc})") from None


_NAME_LISTS: dict[tuple[str, ...], str] = {}  # a worker names the same few job types and models on every claim


def _json_names(name: str, values: Iterable[str] | None) -> str | None:
    """A list of names (job types, model names) as a JSON array; the same list's text is made once."""
    if values is None:
        return None
    if isinstance(values, str):  # tuple("separation") would be its letters
        raise ValidationError(f"{name} must be a list of names, not one string: write [{values!r}]")
    key = tuple(values)
    if not all(type(v) is str for v in key):
        return _json_param(name, list(key))  # not names: json.dumps says what is wrong, or the procedure does
    text = _NAME_LISTS.get(key)
    if text is None:
        text = json.dumps(list(key), ensure_ascii=False)  # a list of str always serialises
        if len(_NAME_LISTS) < 256:
            _NAME_LISTS[key] = text
    return text


_PASSED_AS_IS = frozenset((int, bool, type(None)))


BIGINT = 2**63  # the widest integer a procedure parameter takes is bigint: -2**63 to 2**63 - 1


def _param(name: str, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -BIGINT <= value < BIGINT:
        raise _refused(name, f"@{name} must be a whole number from -2**63 to 2**63 - 1 (got {value})")
    if type(value) in _PASSED_AS_IS:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _refused(name, f"@{name} must be a finite number (got {value!r})")
    if isinstance(value, str) and "\x00" in value:  # Babelfish (PostgreSQL) cannot store NUL in text
        raise _refused(name, f"@{name} must not contain NUL characters")
    return value


def _refused(name: str, message: str) -> ValidationError:
    from songsdb.errors import argument_name

    return ValidationError(message, parameter=argument_name(f"@{name}"), server_parameter=f"@{name}")
