"""Small helpers for integration tests: run SQL as the admin login and read rows back."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from songsdb.config import Settings, format_connection_string, parse_connection_string


def query(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one batch and return the rows of its last result set."""
    import pyodbc

    conn = pyodbc.connect(settings.odbc(), autocommit=True, timeout=30)
    try:
        cursor = conn.cursor()
        cursor.execute(sql, *params)
        rows: list[tuple[Any, ...]] = []
        while True:
            if cursor.description is not None:
                rows = [tuple(r) for r in cursor.fetchall()]
            if not cursor.nextset():
                return rows
    finally:
        conn.close()


def run_script(settings: Settings, text: str) -> None:
    """Run a sqlcmd-style script on one session, batch by batch, as ``sqlcmd -b`` would.

    sqlcmd runs its own commands (``:on error exit``) and sends the server only the rest
    (``Batch.sql``); the first error stops the script here too.
    """
    import pyodbc

    from songsdb.batches import split_batches

    conn = pyodbc.connect(settings.odbc(), autocommit=True, timeout=30)
    try:
        cursor = conn.cursor()
        for batch in split_batches(text):
            for _ in range(0 if batch.is_empty else batch.repeat):
                cursor.execute(batch.sql)
                while cursor.nextset():
                    pass
    finally:
        conn.close()


def scalar(settings: Settings, sql: str, *params: Any) -> Any:
    rows = query(settings, sql, *params)
    return rows[0][0] if rows else None


def objects(settings: Settings) -> set[tuple[str, str, str]]:
    """(schema, name, type) of every user object, lower-cased (Babelfish lower-cases catalog names)."""
    rows = query(
        settings,
        "SELECT s.name, o.name, o.type FROM sys.objects AS o "
        "INNER JOIN sys.schemas AS s ON s.schema_id = o.schema_id "
        "WHERE o.is_ms_shipped = 0 AND o.type IN ('U', 'V', 'P');",
    )
    return {(str(a).lower(), str(b).lower(), str(c).strip().upper()) for a, b, c in rows}


def history(settings: Settings) -> list[tuple[str, str, bool]]:
    return [
        (str(name), str(checksum).strip(), bool(success))
        for name, checksum, success in query(
            settings, "SELECT ScriptName, Checksum, Success FROM deploy.SchemaHistory ORDER BY Id;"
        )
    ]


def endpoint(settings: Settings) -> tuple[str, int]:
    """The (host, port) the settings connect to, under either driver's spelling."""
    pairs = {k.lower(): v for k, v in parse_connection_string(settings.odbc()).items()}
    server = pairs.get("server", "127.0.0.1").removeprefix("tcp:")
    if "," in server:
        host, port = server.split(",", 1)
        return host, int(port)
    return server, int(pairs.get("port", "1433"))


def through(settings: Settings, port: int) -> Settings:
    """The settings pointed at a loopback proxy on ``port`` (FreeTDS: SERVER + PORT; Microsoft's: SERVER=host,port)."""
    pairs = parse_connection_string(settings.odbc())
    server_key = next(k for k in pairs if k.lower() == "server")
    port_key = next((k for k in pairs if k.lower() == "port"), None)
    if port_key is not None:
        pairs[server_key], pairs[port_key] = "127.0.0.1", str(port)
    else:
        pairs[server_key] = f"127.0.0.1,{port}"
    return replace(settings, connection_string=format_connection_string(pairs))


def profiled(cursor: Any, call: str) -> str:
    """The plans of every statement ``call`` ran on ``cursor``'s session, as one text (Babelfish's
    statistics profile: each statement's plan with its actual rows and times). The profile is
    switched off again, so a pooled session goes back as it came."""
    cursor.execute("SET BABELFISH_STATISTICS PROFILE ON;")
    try:
        cursor.execute(call)
        lines: list[str] = []
        while True:
            if cursor.description is not None:
                rows = cursor.fetchall()
                if cursor.description[0][0].upper().startswith("QUERY PLAN"):
                    lines.extend(str(r[0]) for r in rows)
            if not cursor.nextset():
                return "\n".join(lines)
    finally:
        cursor.execute("SET BABELFISH_STATISTICS PROFILE OFF;")
