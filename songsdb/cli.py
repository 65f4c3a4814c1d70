"""The ``songsdb`` command line. Every command has help with an example; errors are one line.

    songsdb migrate                 apply pending scripts to the configured database
    songsdb status                  applied / pending / changed; exit 1 on drift
    songsdb script -o deploy.sql    the whole deployment as one sqlcmd file (offline)
    songsdb baseline 5              mark scripts 0001..0005 as applied
    songsdb check                   can we connect? which server?
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from songsdb.config import ENV_FILE, Settings, load_settings
from songsdb.errors import SongsDbError

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"database": args.database, "connection_string": args.connection_string}
    return load_settings(env_file=args.env_file, **overrides)


def cmd_migrate(args: argparse.Namespace) -> int:
    from songsdb.migrator import Migrator

    report = Migrator(_settings(args)).migrate()
    for name in report.applied:
        print(f"applied  {name}")
    print(f"{len(report.applied)} script(s) applied ({report.engine}); the database is up to date.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from songsdb.migrations import drift_message
    from songsdb.migrator import Migrator

    engine, states = Migrator(_settings(args)).status()
    for state in states:
        print(f"{state.state:<8} {state.kind:<10} {state.name}")
    pending = sum(s.will_apply for s in states)
    print(f"engine {engine}: {pending} to apply, {sum(s.is_drift for s in states)} drifted")
    problem = drift_message(states)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


def cmd_script(args: argparse.Namespace) -> int:
    from songsdb.migrations import build_deployment_script
    from songsdb.migrator import Migrator

    migrator = Migrator(_settings(args))
    if args.pending:
        engine, states = migrator.status()
        todo = {s.name for s in states if s.will_apply}
        items = [i for i in migrator.rendered(engine) if i.name in todo]
    else:
        engine = args.engine
        items = migrator.rendered(engine)
    text = build_deployment_script(items, engine)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {len(items)} script(s) for {engine} to {args.output}; run: sqlcmd -b -d <database> -i {args.output}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from songsdb.migrator import Migrator

    marked = Migrator(_settings(args)).baseline(args.version)
    for name in marked:
        print(f"baselined {name}")
    print(f"{len(marked)} script(s) marked as applied up to version {args.version:04d}.")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from songsdb.database import SongsDatabase

    with SongsDatabase(settings=_settings(args)) as db:
        version = db.server_version()
    print("Database connection successful!")
    print(version.splitlines()[0] if version else "")
    return 0


COMMANDS: dict[str, tuple[Handler, str, str]] = {
    "migrate": (cmd_migrate, "create the database if needed and apply every pending script", "songsdb migrate"),
    "status": (cmd_status, "list scripts as applied, pending, changed, edited or missing; exit 1 on drift", "songsdb status"),
    "script": (
        cmd_script,
        "write the exact batches migrate runs as one sqlcmd file (offline unless --pending)",
        "songsdb script -o deploy.sql && sqlcmd -b -d SongsDB -i deploy.sql",
    ),
    "baseline": (cmd_baseline, "mark an existing database as being at VERSION without running scripts", "songsdb baseline 5"),
    "check": (cmd_check, "connect and print the server's version, or the one-line cause", "songsdb check"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every sub-command has help and an example."""
    parser = argparse.ArgumentParser(
        prog="songsdb",
        description="songsdb: SQL Server persistence for the audio-processing backend.",
        epilog=f"Settings come from SONGSDB_* variables, then {ENV_FILE}. Example: songsdb migrate",
    )
    parser.add_argument("--env-file", default=ENV_FILE, help=f"settings file (default {ENV_FILE})")
    parser.add_argument("--database", help="database name (overrides SONGSDB_DATABASE)")
    parser.add_argument("--connection-string", help="a whole ODBC connection string (overrides SONGSDB_*)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, summary, example) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary, epilog=f"Example: {example}")
        command.set_defaults(handler=handler)
        if name == "script":
            command.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
            group = command.add_mutually_exclusive_group()
            group.add_argument("--pending", action="store_true", help="only what the server still needs (connects)")
            group.add_argument("--all", action="store_true", help="everything, from an empty database (default; offline)")
            command.add_argument("--engine", choices=("sqlserver", "babelfish"), default="sqlserver", help="target engine for --all")
        if name == "baseline":
            command.add_argument("version", type=int, help="the last versioned script the database already has")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; library errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except SongsDbError as exc:
        print(f"songsdb {args.command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a driver error the library did not map: still one line
        if type(exc).__module__ != "pyodbc":
            raise
        from songsdb.errors import server_message

        print(f"songsdb {args.command}: database error: {server_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"songsdb {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
