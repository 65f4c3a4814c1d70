"""Turning Python values into procedure parameters: ids, JSON, numbers, text. Refuses what no engine stores."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from songsdb.errors import ValidationError

__all__ = ["Id", "_uuid_param", "_json_param", "_param"]

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


_PASSED_AS_IS = frozenset((int, bool, type(None)))


def _param(name: str, value: Any) -> Any:
    if type(value) in _PASSED_AS_IS:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"@{name} must be a finite number (got {value!r})")
    if isinstance(value, str) and "\x00" in value:  # Babelfish (PostgreSQL) cannot store NUL in text
        raise ValidationError(f"@{name} must not contain NUL characters")
    return value
