"""Connection settings: explicit arguments, then the environment, then ``.env.songs-db``.

Nothing here opens a connection. The password never appears in a repr, a log
line or an exception message: use :func:`redact` on any connection string
before showing it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from songsdb.errors import ConfigurationError, DriverNotFound

__all__ = [
    "ENV_FILE",
    "ROLES",
    "PREFERRED_DRIVERS",
    "Settings",
    "load_settings",
    "parse_connection_string",
    "format_connection_string",
    "redact",
    "choose_driver",
]

ENV_FILE = ".env.songs-db"
PREFERRED_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server", "FreeTDS")
_SECRET_KEYS = {"pwd", "password"}
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}

# duty role -> the database role its login belongs to (sql/schema/0008_roles_by_duty.sql)
ROLES = {"web": "songsdb_web", "worker": "songsdb_worker", "ops": "songsdb_ops"}

# setting name -> environment variable
_ENV_NAMES = {
    "server": "SONGSDB_SERVER",
    "port": "SONGSDB_PORT",
    "database": "SONGSDB_DATABASE",
    "user": "SONGSDB_USER",
    "password": "SONGSDB_PASSWORD",
    "driver": "SONGSDB_DRIVER",
    "encrypt": "SONGSDB_ENCRYPT",
    "trust_server_certificate": "SONGSDB_TRUST_SERVER_CERTIFICATE",
    "connection_string": "SONGSDB_CONNECTION_STRING",
    "login_timeout": "SONGSDB_LOGIN_TIMEOUT",
    "query_timeout": "SONGSDB_QUERY_TIMEOUT",
}


@dataclass(frozen=True)
class Settings:
    """Where and how to connect. ``connection_string``, when set, wins over the parts."""

    server: str = "localhost"
    port: int = 1433
    database: str = "SongsDB"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    driver: str | None = None
    encrypt: bool = True
    trust_server_certificate: bool = False
    connection_string: str | None = field(default=None, repr=False)
    login_timeout: int = 15
    query_timeout: int = 30  # seconds per call; 0 = no limit

    def __repr__(self) -> str:  # the dataclass repr would still be fine; this one also redacts
        parts = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("server", "port", "database", "user", "driver", "encrypt", "trust_server_certificate")
        )
        conn = f", connection_string={redact(self.connection_string)!r}" if self.connection_string else ""
        return f"Settings({parts}{conn})"

    def odbc(self, installed_drivers: Callable[[], list[str]] | None = None) -> str:
        """The ODBC connection string for these settings (contains the password)."""
        if self.connection_string:
            return self.connection_string
        driver = self.driver or choose_driver(installed_drivers() if installed_drivers else _installed_drivers())
        pairs: dict[str, str] = {"DRIVER": driver}
        if "freetds" in driver.lower():
            pairs.update(SERVER=self.server, PORT=str(self.port), TDS_Version="7.4")
            pairs["Encryption"] = "require" if self.encrypt else "off"
        else:
            pairs["SERVER"] = f"{self.server},{self.port}"
            pairs["Encrypt"] = "yes" if self.encrypt else "no"
            pairs["TrustServerCertificate"] = "yes" if self.trust_server_certificate else "no"
        pairs["DATABASE"] = self.database
        if self.user:
            pairs.update(UID=self.user, PWD=self.password or "")
        else:
            pairs["Trusted_Connection"] = "yes"
        pairs["APP"] = "songsdb"
        return format_connection_string(pairs)

    def with_database(self, database: str) -> Settings:
        """The same settings pointed at another database."""
        if self.connection_string:
            pairs = parse_connection_string(self.connection_string)
            key = next((k for k in pairs if k.lower() in ("database", "initial catalog")), "DATABASE")
            pairs[key] = database
            return replace(self, database=database, connection_string=format_connection_string(pairs))
        return replace(self, database=database)

    def endpoint(self) -> tuple[str, str, str]:
        """(server, port, database) as the connection will use them, for messages (never the password)."""
        if self.connection_string:
            pairs = {k.lower(): v for k, v in parse_connection_string(self.connection_string).items()}
            server = pairs.get("server", pairs.get("address", "?")).removeprefix("tcp:")
            host, _, port = server.partition(",")
            return host, port or pairs.get("port", "1433"), self.target_database
        return self.server, str(self.port), self.database

    @property
    def target_database(self) -> str:
        """The database these settings name."""
        if self.connection_string:
            pairs = {k.lower(): v for k, v in parse_connection_string(self.connection_string).items()}
            return pairs.get("database") or pairs.get("initial catalog") or "master"
        return self.database


def _installed_drivers() -> list[str]:
    try:
        import pyodbc
    except ImportError as exc:  # libodbc.so.2 missing on a fresh Debian machine
        raise DriverNotFound(
            f"pyodbc cannot load the unixODBC library ({exc}); install it: apt-get install unixodbc"
        ) from None
    return list(pyodbc.drivers())


def choose_driver(installed: list[str]) -> str:
    """The best installed driver: ODBC Driver 18, then 17, then FreeTDS."""
    for name in PREFERRED_DRIVERS:
        if name in installed:
            return name
    found = ", ".join(installed) or "none"
    raise DriverNotFound(
        "no SQL Server ODBC driver is installed (found: "
        f"{found}); install Microsoft's 'ODBC Driver 18 for SQL Server' (msodbcsql18) "
        "or FreeTDS (Debian: apt-get install tdsodbc), or set SONGSDB_DRIVER"
    )


def parse_connection_string(text: str) -> dict[str, str]:
    """Split an ODBC connection string into an ordered dict; ``{...}`` values may hold ``;``."""
    pairs: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in "; \t":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise ConfigurationError(f"connection string has a part without '=': {redact(text[i:])!r}")
        key = text[i:eq].strip()
        i = eq + 1
        if i < n and text[i] == "{":
            value, i = _braced(text, i)
        else:
            end = text.find(";", i)
            end = n if end < 0 else end
            value, i = text[i:end].strip(), end
        pairs[key] = value
    return pairs


def _braced(text: str, start: int) -> tuple[str, int]:
    out, i = [], start + 1
    while i < len(text):
        if text[i] == "}":
            if text[i + 1 : i + 2] == "}":
                out.append("}")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    raise ConfigurationError("connection string has an unclosed '{'")


def _quote(value: str) -> str:
    if any(c in value for c in ";{}=") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def format_connection_string(pairs: Mapping[str, str]) -> str:
    """Inverse of :func:`parse_connection_string`."""
    return ";".join(f"{key}={_quote(value)}" for key, value in pairs.items()) + ";"


def redact(connection_string: str | None) -> str:
    """The connection string with every password replaced by ``***``."""
    if not connection_string:
        return ""
    try:
        pairs = parse_connection_string(connection_string)
    except ConfigurationError:
        return "<unparseable connection string>"
    return format_connection_string({k: ("***" if k.lower() in _SECRET_KEYS else v) for k, v in pairs.items()})


def _to_bool(name: str, value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be one of yes/no, true/false, 1/0 (got {value!r})")


def _to_int(name: str, value: str | int, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a whole number (got {value!r})") from None
    if number < minimum:
        raise ConfigurationError(f"{name} must be {minimum} or more (got {number})")
    return number


_ROLE_SPECIFIC = ("user", "password", "connection_string")


def _role_variable(role: str, variable: str) -> str:
    """``SONGSDB_USER`` for the worker role is ``SONGSDB_WORKER_USER``."""
    return variable.replace("SONGSDB_", f"SONGSDB_{role.upper()}_", 1)


def load_settings(
    env: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ENV_FILE,
    role: str = "web",
    **overrides: object,
) -> Settings:
    """Settings from ``overrides`` (non-None ones), else ``env``, else ``env_file``.

    ``role`` picks the login: ``web`` (the default) reads ``SONGSDB_USER`` / ``SONGSDB_PASSWORD``;
    ``worker`` and ``ops`` read ``SONGSDB_WORKER_USER`` / ``SONGSDB_OPS_USER`` (and their
    ``_PASSWORD`` and ``_CONNECTION_STRING``) first, falling back to the web ones.
    ``env`` defaults to ``os.environ``; a missing ``env_file`` is simply skipped.
    Unknown override names are a :class:`ConfigurationError`.
    """
    unknown = set(overrides) - set(_ENV_NAMES)
    if unknown:
        raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: {', '.join(_ENV_NAMES)}")
    if role not in ROLES:
        raise ConfigurationError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    environ = os.environ if env is None else env
    from_file: Mapping[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        from_file = dotenv_values(env_file)
    values: dict[str, object] = {}
    for name, variable in _ENV_NAMES.items():
        candidates = [variable]
        if role != "web" and name in _ROLE_SPECIFIC:
            candidates.insert(0, _role_variable(role, variable))
        if overrides.get(name) is not None:
            values[name] = overrides[name]
            continue
        for source in (environ, from_file):
            found = next((source[c] for c in candidates if source.get(c)), None)
            if found:
                values[name] = found
                break
    for name in ("encrypt", "trust_server_certificate"):
        if name in values:
            values[name] = _to_bool(_ENV_NAMES[name], values[name])  # type: ignore[arg-type]
    for name in ("port", "login_timeout"):
        if name in values:
            values[name] = _to_int(_ENV_NAMES[name], values[name])  # type: ignore[arg-type]
    if "query_timeout" in values:
        values["query_timeout"] = _to_int(_ENV_NAMES["query_timeout"], values["query_timeout"], minimum=0)  # type: ignore[arg-type]
    return Settings(**values)  # type: ignore[arg-type]
