"""Connection settings: explicit arguments, then the environment, then ``.env.songs-db``.

Nothing here opens a connection. The password never appears in a repr, a log
line or an exception message: use :func:`redact` on any connection string
before showing it. A password or connection string may come from a file named by
``SONGSDB_PASSWORD_FILE`` / ``SONGSDB_CONNECTION_STRING_FILE`` (Docker and Kubernetes secrets).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
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
    "setting_variable",
]

ENV_FILE = ".env.songs-db"
PREFERRED_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server", "FreeTDS")
_SECRET_KEYS = {"pwd", "password"}
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}

# duty role -> the database role its login belongs to (sql/schema/0008_roles_by_duty.sql; retention:
# 0047_retention_role.sql, the login only the cleanup uses)
ROLES = {"web": "songsdb_web", "worker": "songsdb_worker", "ops": "songsdb_ops", "retention": "songsdb_retention"}
# whose login a role without login settings of its own uses: the cleanup ran as the operations login
# before the retention role existed, so a deployment that set only SONGSDB_OPS_* keeps cleaning up
_FALLBACK = {"retention": "ops"}

# setting name -> environment variable: every variable load_settings reads (a role's own login
# variables are these with the role after SONGSDB_, see _role_variable). A *_file entry is no
# setting: its variable names a file that holds the setting's value.
_ENV_NAMES = {
    "server": "SONGSDB_SERVER",
    "port": "SONGSDB_PORT",
    "database": "SONGSDB_DATABASE",
    "user": "SONGSDB_USER",
    "password": "SONGSDB_PASSWORD",
    "password_file": "SONGSDB_PASSWORD_FILE",
    "driver": "SONGSDB_DRIVER",
    "encrypt": "SONGSDB_ENCRYPT",
    "trust_server_certificate": "SONGSDB_TRUST_SERVER_CERTIFICATE",
    "connection_string": "SONGSDB_CONNECTION_STRING",
    "connection_string_file": "SONGSDB_CONNECTION_STRING_FILE",
    "login_timeout": "SONGSDB_LOGIN_TIMEOUT",
    "query_timeout": "SONGSDB_QUERY_TIMEOUT",
    "ddl_retry_seconds": "SONGSDB_DDL_RETRY_SECONDS",
}
# secret setting -> the entry whose variable names a file holding it
_FROM_FILE = {"password": "password_file", "connection_string": "connection_string_file"}


def setting_variable(name: str) -> str:
    """The environment variable (also read from ``.env.songs-db``) of the setting ``name``."""
    return _ENV_NAMES[name]


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
    # songsdb migrate's retry deadline (SONGSDB_DDL_RETRY_SECONDS), as given: only migrate reads and checks it
    # (songsdb.migrator.DdlRetry.from_setting), so a bad value never stops a client, status or an offline script
    ddl_retry_seconds: str | float | None = None

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


# A role's own login block: when any of these is set for the role, all of them come from that block.
_ROLE_SPECIFIC = ("user", "password", "password_file", "connection_string", "connection_string_file")
_SETTINGS = tuple(f.name for f in fields(Settings))

# (where, for messages; the variables found there): the environment first, then the env file
_Sources = list[tuple[str, Mapping[str, str | None]]]


def _role_variable(role: str, variable: str) -> str:
    """``SONGSDB_USER`` for the worker role is ``SONGSDB_WORKER_USER``."""
    return variable.replace("SONGSDB_", f"SONGSDB_{role.upper()}_", 1)


def _login_block(role: str, sources: _Sources) -> str:
    """Whose login variables ``role`` reads: its own when any of them is set (non-empty), else the web's
    (the retention role's: the operations login's block, as that role would read it)."""
    if role == "web":
        return "web"
    own = [_role_variable(role, _ENV_NAMES[name]) for name in _ROLE_SPECIFIC]
    if any(source.get(variable) for _, source in sources for variable in own):
        return role
    return _login_block(_FALLBACK[role], sources) if role in _FALLBACK else "web"


def _variable(name: str, block: str) -> str:
    variable = _ENV_NAMES[name]
    return _role_variable(block, variable) if block != "web" and name in _ROLE_SPECIFIC else variable


def _read_secret(variable: str, path: str) -> str:
    """The contents of the file ``variable`` names, less one trailing newline; errors never show the contents."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"{variable} names a file that cannot be read: {path} ({reason})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{variable} names a file that is not UTF-8 text: {path}") from None
    text = text.removesuffix("\r\n") if text.endswith("\r\n") else text.removesuffix("\n")
    if not text:
        raise ConfigurationError(f"{variable} names an empty file: {path}")
    return text


def _lookup(name: str, block: str, sources: _Sources) -> str | None:
    """The first non-empty value of setting ``name`` in ``block``: the environment's, else the env file's.

    For a secret, ``X_FILE`` in a source stands for ``X`` there (the file's contents); both in
    the same source is a contradiction. Across sources the environment wins, as for every setting.
    """
    variable = _variable(name, block)
    file_variable = _variable(_FROM_FILE[name], block) if name in _FROM_FILE else None
    for where, source in sources:
        if file_variable and source.get(variable) and source.get(file_variable):
            raise ConfigurationError(f"both {variable} and {file_variable} are set ({where}); set only one of them")
    for _, source in sources:
        value = source.get(variable)
        if value:
            return value
        path = source.get(file_variable) if file_variable else None
        if file_variable and path:
            return _read_secret(file_variable, path)
    return None


def _check_login(block: str, values: Mapping[str, object]) -> None:
    """A role's own login block must be whole: its user needs its password and its password its user,
    unless its connection string (which wins over both) is set. Nothing is borrowed from the web's."""
    if block == "web" or values.get("connection_string"):
        return
    if values.get("user") and not values.get("password"):
        missing, wanted = _variable("password", block), f"{_variable('password', block)} or {_variable('password_file', block)}"
    elif values.get("password") and not values.get("user"):
        missing, wanted = _variable("user", block), _variable("user", block)
    else:
        return
    raise ConfigurationError(
        f"{missing} is missing: once any SONGSDB_{block.upper()}_* login setting is set, the {block} login "
        "is read from those alone, never from the web's SONGSDB_USER / SONGSDB_PASSWORD; "
        f"set {wanted}, or {_variable('connection_string', block)}"
    )


def load_settings(
    env: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ENV_FILE,
    role: str = "web",
    **overrides: object,
) -> Settings:
    """Settings from ``overrides`` (non-None ones), else ``env``, else ``env_file``.

    ``role`` picks the login: ``web`` (the default) reads ``SONGSDB_USER`` / ``SONGSDB_PASSWORD`` /
    ``SONGSDB_CONNECTION_STRING``. ``worker``, ``ops`` and ``retention`` fall back as a block: when any of the role's
    own login variables (``SONGSDB_WORKER_USER``, ``_PASSWORD``, ``_PASSWORD_FILE``,
    ``_CONNECTION_STRING``, ``_CONNECTION_STRING_FILE``) is set in ``env`` or ``env_file``, the
    user, password and connection string all come from the role's variables, and a user without a
    password (or the reverse) is a :class:`ConfigurationError` unless a connection string is set;
    only when none is set are the web ones used, all together (for ``retention``: the ``ops`` login,
    which ran the cleanup before that role existed, or the web's when ops has none either). The other
    settings are shared.
    ``SONGSDB_PASSWORD_FILE`` and ``SONGSDB_CONNECTION_STRING_FILE`` (and the roles' ones) name a
    file holding the value, less one trailing newline; naming both a value and its file in one
    source, or a file that cannot be read, is a :class:`ConfigurationError`.
    Overrides replace single settings whichever block the others come from.
    ``env`` defaults to ``os.environ``; a missing ``env_file`` is simply skipped.
    Unknown override names are a :class:`ConfigurationError`.
    """
    unknown = set(overrides) - set(_SETTINGS)
    if unknown:
        raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: {', '.join(_SETTINGS)}")
    if role not in ROLES:
        raise ConfigurationError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    environ = os.environ if env is None else env
    from_file: Mapping[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        from_file = dotenv_values(env_file)
    sources: _Sources = [("in the environment", environ), (f"in {os.fspath(env_file or ENV_FILE)}", from_file)]
    block = _login_block(role, sources)
    values: dict[str, object] = {}
    for name in _SETTINGS:
        if overrides.get(name) is not None:
            values[name] = overrides[name]
            continue
        found = _lookup(name, block, sources)
        if found:
            values[name] = found
    _check_login(block, values)
    for name in ("encrypt", "trust_server_certificate"):
        if name in values:
            values[name] = _to_bool(_ENV_NAMES[name], values[name])  # type: ignore[arg-type]
    for name in ("port", "login_timeout"):
        if name in values:
            values[name] = _to_int(_ENV_NAMES[name], values[name])  # type: ignore[arg-type]
    if "query_timeout" in values:
        values["query_timeout"] = _to_int(_ENV_NAMES["query_timeout"], values["query_timeout"], minimum=0)  # type: ignore[arg-type]
    return Settings(**values)  # type: ignore[arg-type]
