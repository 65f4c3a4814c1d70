"""Who may use the console, and how it refuses everyone else: settings, bind check, authentication, CSRF.

Secure by default:

- it binds to 127.0.0.1; :func:`check_bind` refuses any other address unless a token or HTTP
  basic credentials are configured (``SONGSDB_CONSOLE_TOKEN`` / ``SONGSDB_CONSOLE_TOKEN_FILE``,
  ``SONGSDB_CONSOLE_USER`` with ``SONGSDB_CONSOLE_PASSWORD`` / ``SONGSDB_CONSOLE_PASSWORD_FILE``);
- with credentials configured every request must carry them (``Authorization: Bearer <token>``, or
  HTTP basic: the configured user and password, or any user name with the token as password, the
  name then being the operator's), compared in constant time;
- every change is a POST carrying a CSRF token: an HMAC of the operator's name under a key made at
  start-up, so a page from elsewhere cannot forge one;
- without credentials it answers only requests from this machine addressed to it: the client's
  address and the ``Host`` header must both be loopback, and a proxied request (``Forwarded`` /
  ``X-Forwarded-For``) is refused. That holds however the app is served (``songsdb console``,
  ``create_app()`` under gunicorn, ``mount()`` in a service), and it stops DNS rebinding: a page on
  another site whose name resolves to 127.0.0.1 sends its own name as ``Host``;
- ``SONGSDB_CONSOLE_READ_ONLY=1`` (or ``--read-only``) shows every page and refuses every change.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from songsdb.config import _read_secret
from songsdb.errors import ConfigurationError

__all__ = [
    "ConsoleSettings", "load_console_settings", "check_bind", "operator_for", "csrf_token", "csrf_ok", "is_loopback",
    "local_request_refusal",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8900


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console runs. ``token`` or ``username`` + ``password`` turn authentication on."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    read_only: bool = False
    csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def authenticated(self) -> bool:
        """Whether requests must carry credentials."""
        return bool(self.token) or bool(self.username and self.password)


def _secret(env: Mapping[str, str], name: str) -> str | None:
    value, path = env.get(name) or None, env.get(f"{name}_FILE") or None
    if value and path:
        raise ConfigurationError(f"both {name} and {name}_FILE are set; give one")
    return _read_secret(f"{name}_FILE", path) if path else value


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load_console_settings(env: Mapping[str, str] | None = None, **overrides: object) -> ConsoleSettings:
    """Settings from ``SONGSDB_CONSOLE_*`` (secrets also from files), then ``overrides`` (None: not given)."""
    env = os.environ if env is None else env
    username = env.get("SONGSDB_CONSOLE_USER") or None
    password = _secret(env, "SONGSDB_CONSOLE_PASSWORD")
    if bool(username) != bool(password):
        raise ConfigurationError("SONGSDB_CONSOLE_USER and SONGSDB_CONSOLE_PASSWORD (or _FILE) go together; one is missing")
    values: dict[str, object] = {
        "host": env.get("SONGSDB_CONSOLE_HOST") or DEFAULT_HOST,
        "port": int(env.get("SONGSDB_CONSOLE_PORT") or DEFAULT_PORT),
        "token": _secret(env, "SONGSDB_CONSOLE_TOKEN"),
        "username": username,
        "password": password,
        "read_only": _flag(env.get("SONGSDB_CONSOLE_READ_ONLY")),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "csrf_key" not in overrides and (values["token"] or values["password"]):
        # every process serving the console (gunicorn's workers) must accept the others' forms: a key
        # derived from the configured secrets is the same in each, and changes when they are rotated
        material = "\0".join(str(values[k] or "") for k in ("token", "username", "password")).encode("utf-8")
        values["csrf_key"] = hmac.new(b"songsdb console csrf", material, hashlib.sha256).digest()
    return ConsoleSettings(**values)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(settings: ConsoleSettings) -> None:
    """Refuse to serve on an address other machines can reach without authentication configured."""
    if not is_loopback(settings.host) and not settings.authenticated:
        raise ConfigurationError(
            f"refusing to serve the console on {settings.host}, which other machines can reach, without authentication: "
            "set SONGSDB_CONSOLE_TOKEN (or SONGSDB_CONSOLE_TOKEN_FILE), or SONGSDB_CONSOLE_USER and "
            "SONGSDB_CONSOLE_PASSWORD (or SONGSDB_CONSOLE_PASSWORD_FILE), or bind to 127.0.0.1"
        )


def _host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8900`` -> ``::1``)."""
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def local_request_refusal(settings: ConsoleSettings, remote_addr: str | None, host: str, headers: Mapping[str, str]) -> str | None:
    """Why a request may not use a console without credentials (None: it may, or credentials are configured)."""
    if settings.authenticated:
        return None
    if not remote_addr or not is_loopback(remote_addr):
        return "without authentication configured this console answers only requests from this machine"
    if not is_loopback(_host_name(host)):
        return "without authentication configured this console answers only requests addressed to 127.0.0.1 or localhost"
    if any(headers.get(name) for name in ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host")):
        return "without authentication configured this console does not answer requests through a proxy"
    return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def operator_for(settings: ConsoleSettings, authorization: str | None) -> str | None:
    """The operator's name for a request's ``Authorization`` header, or None when it does not authenticate.

    Without credentials configured (loopback only) everyone is the local user.
    """
    if not settings.authenticated:
        try:
            return f"local:{getpass.getuser()}"
        except Exception:  # no user name in this environment (a container without one)
            return "local"
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and settings.token and _same(value, settings.token):
        return "token"
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep:
        return None
    if settings.username and settings.password and _same(user, settings.username) and _same(password, settings.password):
        return user
    if settings.token and _same(password, settings.token):
        return user[:60] or "token"
    return None


def csrf_token(settings: ConsoleSettings, operator: str) -> str:
    """The CSRF token the operator's forms carry."""
    return hmac.new(settings.csrf_key, f"songsdb-console:{operator}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(settings: ConsoleSettings, operator: str, given: str | None) -> bool:
    """Whether a POST carries the operator's CSRF token."""
    return bool(given) and hmac.compare_digest(str(given), csrf_token(settings, operator))
