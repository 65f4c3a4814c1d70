"""The ``songsdb`` command line. Every command has help with an example; errors are one line.

    songsdb migrate                 apply pending scripts to the configured database (it must exist;
                                    --create-database creates it)
    songsdb status                  applied / pending / changed; exit 1 on drift
    songsdb script -o deploy.sql    the whole deployment as one sqlcmd file (offline)
    songsdb baseline 5              mark scripts 0001..0005 as applied
    songsdb check                   can we connect? which server?

After ``bash scripts/setup`` the command is ``.venv/bin/songsdb`` (``songsdb`` once the venv is
activated). Every message and help text that names a command spells it the way it can be typed here,
as the README says: the CLI's own with :func:`command`; the library's (songsdb.local, songsdb.container,
songsdb.database), which say plain ``songsdb up`` and never import this module, through :func:`as_typed`
as the CLI prints them.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from songsdb.config import ENV_FILE, Settings, load_settings
from songsdb.errors import ConfigurationError, SongsDbError

__all__ = ["main", "build_parser", "command", "as_typed", "program"]

Handler = Callable[[argparse.Namespace], int]


def _shown(path: Path) -> str:
    """``path`` as a user here would type it: relative to the working folder when inside it."""
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(Path.cwd())
    except (ValueError, OSError):  # outside the working folder, or that folder is gone
        return shlex.quote(str(absolute))
    text = str(relative)
    return shlex.quote(text if os.sep in text else f".{os.sep}{text}")


def program() -> str:
    """How to run songsdb from here: ``songsdb`` when that name on PATH is this program, else its path.

    After ``bash scripts/setup`` without an activated venv that is ``.venv/bin/songsdb`` (seen from the
    checkout); run as ``python -m songsdb`` with no script beside the interpreter, it is that.
    """
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    script = argv0 if argv0.name == "songsdb" else Path(sys.executable).parent / "songsdb"
    on_path = shutil.which("songsdb")
    if not script.is_file():
        return "songsdb" if on_path else f"{_shown(Path(sys.executable))} -m songsdb"
    try:
        if on_path and os.path.samefile(on_path, script):
            return "songsdb"
    except OSError:
        pass
    return _shown(script)


def command(*words: str) -> str:
    """A songsdb command line as it can be typed here, e.g. ``command("migrate")`` -> ``.venv/bin/songsdb migrate``."""
    return " ".join((program(), *words))


def as_typed(message: str) -> str:
    """``message`` with each ``songsdb <command>`` it suggests spelled as :func:`command` would.

    The library's own messages (e.g. "start one with `songsdb up`") use the short form, since a service
    may have songsdb on its PATH, and the library does not import the CLI; the CLI prints them (its errors
    and the lines ``up`` says) the way this shell can run them. A message must not be rewritten twice:
    ``python -m songsdb up`` would become ``python -m python -m songsdb up``.
    """
    import re

    names = "|".join(sorted(COMMANDS, key=len, reverse=True))
    me = program()
    if me == "songsdb":
        return message
    return re.sub(rf"(?<![\w./-])songsdb (?=(?:{names})\b)", f"{me} ", message)


def _settings(args: argparse.Namespace, admin: bool = False, role: str = "web") -> Settings:
    """Settings for this command: the ``role``'s login; with ``admin`` the SONGSDB_ADMIN_* login (written by up) wins."""
    overrides = {"database": args.database, "connection_string": args.connection_string}
    settings = load_settings(env_file=args.env_file, role=role, **overrides)
    if admin and not args.connection_string:
        from songsdb.envfile import read_env_file

        values = {**read_env_file(Path(args.env_file)), **os.environ}
        if values.get("SONGSDB_ADMIN_USER") and values.get("SONGSDB_ADMIN_PASSWORD"):
            settings = replace(settings, user=values["SONGSDB_ADMIN_USER"], password=values["SONGSDB_ADMIN_PASSWORD"])
    return settings


def _up_options(args: argparse.Namespace) -> Any:
    from songsdb.local import UpOptions

    options = UpOptions(env_file=Path(args.env_file))
    for name in ("image", "port", "bind", "volume", "container", "timeout"):
        if getattr(args, name, None) is not None:
            setattr(options, name, getattr(args, name))
    if args.database:
        options.database = args.database
    return options


def cmd_migrate(args: argparse.Namespace) -> int:
    from songsdb.migrator import Migrator

    report = Migrator(_settings(args, admin=True)).migrate(create_database=args.create_database)
    for name in report.applied:
        print(f"applied  {name}")
    print(f"{len(report.applied)} script(s) applied ({report.engine}); the database is up to date.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from songsdb.migrations import drift_message
    from songsdb.migrator import Migrator

    _print_container(args)
    engine, states = Migrator(_settings(args, admin=True)).status()
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
    from songsdb.migrator import Migrator

    migrator = Migrator(_settings(args, admin=True))
    text, engine, items = migrator.script(None if args.pending else args.engine, create_database=args.create_database)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        target = "" if args.create_database else f"-d {migrator.settings.target_database} "
        step = next((i.name for i in items if i.script.maintenance_step), None) if args.pending else None
        then = (
            f"; it holds {step}, a maintenance-window step, after this release's procedures (applied again after the "
            f"versioned scripts when the step runs): if the step refuses, "
            f"sqlcmd stops there (exit code 1); do it in a window, then run {command('script', '--pending')} again"
            if step
            else ""
        )
        print(
            f"wrote {len({i.name for i in items})} script(s) for {engine} to {args.output}; review it, then run: "
            f"sqlcmd -b -I {target}-i {args.output}{then}"
        )
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from songsdb.migrator import Migrator

    marked = Migrator(_settings(args, admin=True)).baseline(args.version)
    for name in marked:
        print(f"baselined {name}")
    print(f"{len(marked)} script(s) marked as applied up to version {args.version:04d}.")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from songsdb.database import SongsDatabase
    from songsdb.migrator import read_committed_snapshot

    settings = _settings(args)
    with SongsDatabase(settings=settings) as db:
        version = db.server_version()
    print("Database connection successful!")
    print(version.splitlines()[0] if version else "")
    engine, rcsi = read_committed_snapshot(settings)
    if engine == "babelfish":
        print("Read committed snapshot: does not apply on Babelfish (PostgreSQL's readers never wait for writers)")
        return 0
    if rcsi is None:
        print("Read committed snapshot: unknown (this login cannot see its database in sys.databases)")
        return 0
    if rcsi:
        print("Read committed snapshot: on")
        return 0
    print(
        f"Read committed snapshot: OFF in {settings.target_database}: readers wait for writers, and a claim can stall "
        f"the work queue. {command('migrate')} turns it on while schema/0014_read_committed_snapshot.sql is pending; "
        "otherwise a DBA runs ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT ON WITH NO_WAIT; while no other "
        "session uses the database",
        file=sys.stderr,
    )
    return 1


def cmd_cleanup(args: argparse.Namespace) -> int:
    from songsdb.database import SongsDatabase

    with SongsDatabase(settings=_settings(args, role="retention"), role="retention") as db:
        report = db.cleanup_old_data(
            args.days,
            audit_days_to_keep=args.audit_days,
            dry_run=args.dry_run,
            time_limit_seconds=args.time_limit,
        )
    verb = "would delete" if report.dry_run else "deleted"
    for table, rows in report.rows.items():
        print(f"{table:<22} {verb} {rows}")
    if not report.finished:
        print("stopped at the time limit; run it again to go on")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from songsdb.bulk import read_rows
    from songsdb.database import SongsDatabase

    path = Path(args.file)
    if not path.is_file():
        raise ConfigurationError(f"no such file: {path}")
    rows = read_rows(path, args.format)
    with SongsDatabase(settings=_settings(args)) as db, _progress(path) as progress:
        summary = db.import_songs(rows, chunk_size=args.chunk_size, on_duplicate=args.on_duplicate, on_progress=progress)
    print(f"{summary.created} created, {summary.updated} updated, {summary.skipped} skipped, {len(summary.failed)} failed")
    for failure in summary.failed[: args.show_failures]:
        where = f"row {failure.index}" + (f" ({failure.file_id})" if failure.file_id else "")
        print(f"  {where}: {failure.parameter + ': ' if failure.parameter else ''}{failure.message}")
    if len(summary.failed) > args.show_failures:
        print(f"  ... and {len(summary.failed) - args.show_failures} more")
    return 1 if summary.failed else 0


@contextmanager
def _progress(path: Path) -> Iterator[Callable[[Any], None]]:
    """A progress bar when tqdm is installed (the `progress` extra), else one line of counts per chunk."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None:
        def plain(summary: Any) -> None:
            print(f"{path.name}: {summary.rows} rows ({summary.created} created, {len(summary.failed)} failed)", file=sys.stderr)

        yield plain
        return
    bar = tqdm(desc=path.name, unit=" rows", file=sys.stderr)
    try:
        def advance(summary: Any) -> None:
            bar.update(summary.rows - bar.n)
            bar.set_postfix(created=summary.created, failed=len(summary.failed), refresh=False)

        yield advance
    finally:
        bar.close()


def cmd_queue(args: argparse.Namespace) -> int:
    from songsdb.database import SongsDatabase

    with SongsDatabase(settings=_settings(args, role="ops"), role="ops") as db:
        if args.sweep:
            swept = db.sweep_expired_leases(limit=args.limit)
            for job in swept:
                print(f"{job.status:<7} {job.id} {job.model_name} {job.job_type} (lease of {job.worker_id or '?'} "
                      f"expired on attempt {job.attempts} of {job.max_attempts})")
            requeued = sum(1 for job in swept if job.status == "queued")
            print(f"swept {len(swept)} expired lease(s): {requeued} requeued, {len(swept) - requeued} failed")
        rows = db.queue_status()
    print(f"{'model':<20} {'type':<14} {'queued':>7} {'running':>8} {'failed':>7} {'expired':>8}")
    for q in rows:
        print(f"{q.model_name:<20} {q.job_type:<14} {q.queued:>7} {q.running:>8} {q.failed:>7} {q.expired_leases:>8}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from songsdb.database import SongsDatabase

    from songsdb import metrics

    if importlib.util.find_spec("prometheus_client") is None:
        raise ConfigurationError("songsdb metrics needs prometheus-client: pip install 'songsdb[console]'")
    with SongsDatabase(settings=_settings(args, role="ops"), role="ops") as db:
        sys.stdout.write(metrics.render(db, window_seconds=args.window).decode("utf-8"))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    try:
        from songsdb.console import auth, serve
    except ImportError as exc:
        raise ConfigurationError(f"songsdb console needs the console extra: pip install 'songsdb[console]' ({exc})") from None
    from songsdb.database import SongsDatabase

    settings = auth.load_console_settings(host=args.host, port=args.port, read_only=args.read_only or None)
    auth.check_bind(settings)  # before connecting: a refused bind says so at once
    print(f"songsdb console on http://{settings.host}:{settings.port}/ ({'read-only' if settings.read_only else 'read-write'}, "
          f"{'authentication required' if settings.authenticated else 'this machine only, no authentication'})", file=sys.stderr)
    serve(settings, SongsDatabase(settings=_settings(args, role="ops"), role="ops"))
    return 0


def _print_container(args: argparse.Namespace) -> None:
    """The local container's state, when a Docker engine answers and the container exists."""
    from songsdb.container import DockerUnavailable, describe, docker_client, find_container

    try:
        container = find_container(docker_client(), _up_options(args).container)
    except DockerUnavailable:
        return
    if container is not None:
        info = describe(container)
        print(
            f"container {info['name']}: {info['status']}, health {info['health']}, port {info['host_port']}, "
            f"volume {info['labels'].get('songsdb.volume')}"
        )


def cmd_up(args: argparse.Namespace) -> int:
    from songsdb.local import up

    result = up(_up_options(args), say=lambda line: print(as_typed(line)))
    print(f"ready: {result.server_version}")
    return 0


def _container(args: argparse.Namespace) -> Any:
    from songsdb.container import docker_client, find_container

    options = _up_options(args)
    container = find_container(docker_client(), options.container)
    if container is None:
        raise SongsDbError(f"no container named {options.container!r}; create it with {command('up')}")
    return container


def cmd_start(args: argparse.Namespace) -> int:
    _container(args).start()
    print(f"started; {command('status')} shows when it is healthy")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    _container(args).stop()
    print("stopped; the volume and its data stay")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    container = _container(args)
    container.remove(force=True)
    print(
        f"removed container {container.name}; the volume stays ({command('volumes')} lists it, "
        f"{command('up')} reuses it)"
    )
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from songsdb.local import stream_logs

    stream_logs(_container(args), follow=args.follow)
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    from songsdb.local import shell_command

    argv, env = shell_command(_up_options(args))
    if shutil.which("docker") is None:
        raise SongsDbError("the docker command line is needed (shell runs sqlcmd inside the container): apt-get install docker.io")
    os.execvpe(argv[0], argv, {**os.environ, **env})  # the SA password in the environment, never in argv (ps)
    return 0  # pragma: no cover


def cmd_volumes(args: argparse.Namespace) -> int:
    from songsdb.volumes import create_volume, default_root, list_volumes

    if args.create:
        print(f"created {create_volume().path}")
    volumes = list_volumes()
    for volume in volumes:
        meta = volume.read_metadata()
        details = f"{meta.image} container={meta.container} port={meta.port} database={meta.database}" if meta else "(no metadata)"
        print(f"{volume.name}  {details}")
    print(f"{len(volumes)} volume(s) under {default_root()}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from songsdb.local import admin_settings, backup

    name = backup(admin_settings(Path(args.env_file)))
    print(f"backed up and verified: {name} (in the volume's backup/ folder); restore with: {command('restore', name)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from songsdb.local import admin_settings, restore

    restore(admin_settings(Path(args.env_file)), args.file)
    print(f"restored from {args.file}")
    return 0


def cmd_space(args: argparse.Namespace) -> int:
    from songsdb.local import admin_settings, space

    for row in space(admin_settings(Path(args.env_file))):
        print("  ".join(str(v) for v in row))
    return 0


def error_catalogue() -> list[tuple[int, str, str | None, str, list[str]]]:
    """(number, exception, its songsdb parent or None, meaning, the objects whose code has ``THROW number``).

    Built from ``songsdb.errors.CATALOGUE`` and the ``THROW`` statements in sql/ (comments aside). Most
    procedures validate through the ``core.Check*`` helpers, so 50001-50004 reach far beyond the files
    that spell the THROW. The README's catalogue table is this (``songsdb errors --markdown``).
    """
    import re

    from songsdb.errors import CATALOGUE, SongsDbError
    from songsdb.migrations import discover, strip_comments

    throwers: dict[int, set[str]] = {number: set() for number in CATALOGUE}
    for script in discover():
        name = script.name.rsplit("/", 1)[-1].removesuffix(".sql")
        for number in re.findall(r"\bTHROW\s+(\d+)", strip_comments(script.source), re.IGNORECASE):
            if int(number) in throwers:
                throwers[int(number)].add(name)
    rows = []
    for number, entry in sorted(CATALOGUE.items()):
        parent = entry.error.__mro__[1]
        rows.append(
            (
                number,
                entry.error.__name__,
                None if parent is SongsDbError else parent.__name__,
                entry.meaning,
                sorted(throwers[number], key=lambda n: (not n.startswith("core."), n)),
            )
        )
    return rows


def cmd_lint(args: argparse.Namespace) -> int:
    from songsdb import lint

    return lint.main(["--engine", args.engine] if args.engine else [])


def cmd_errors(args: argparse.Namespace) -> int:
    rows = error_catalogue()
    if args.markdown:
        print("| number | exception | meaning | THROW in |")
        print("| --- | --- | --- | --- |")
        for number, error, parent, meaning, where in rows:
            kind = f" (subclass of `{parent}`)" if parent else ""
            print(f"| {number} | `{error}`{kind} | {meaning} | {', '.join(f'`{w}`' for w in where)} |")
        return 0
    for number, error, parent, meaning, where in rows:
        kind = f" ({parent})" if parent else ""
        print(f"{number}  {error + kind:<40} {meaning}")
        print(f"{'':7}THROW in {', '.join(where)}")
    return 0


COMMANDS: dict[str, tuple[Handler, str, str]] = {
    "migrate": (
        cmd_migrate,
        "apply every pending script to the database, which must exist (--create-database creates it when missing)",
        "songsdb migrate",
    ),
    "status": (
        cmd_status,
        "the local container's state (when there is one), then every script as applied, pending, changed, "
        "edited or missing; exit 1 on drift",
        "songsdb status",
    ),
    "script": (
        cmd_script,
        "write the exact batches migrate runs as one sqlcmd file (offline unless --pending)",
        "songsdb script -o deploy.sql && sqlcmd -b -I -d SongsDB -i deploy.sql",
    ),
    "lint": (
        cmd_lint,
        "lint the versioned scripts for changes that would block the application (offline; exit 1 on findings)",
        "songsdb lint",
    ),
    "baseline": (cmd_baseline, "mark an existing database as being at VERSION without running scripts", "songsdb baseline 5"),
    "check": (
        cmd_check,
        "connect and print the server's version and whether read committed snapshot is on (exit 1 when it is off "
        "on SQL Server), or the one-line cause",
        "songsdb check",
    ),
    "cleanup": (
        cmd_cleanup,
        "delete finished work older than --days (at least 7) and audit rows older than --audit-days (at least 90), "
        "as the retention login (SONGSDB_RETENTION_*; without them, the operations login)",
        "songsdb cleanup --days 30 --dry-run",
    ),
    "import": (
        cmd_import,
        "register the songs of a CSV file (a header of create_song's parameter names) or JSON lines, one call per "
        "chunk; prints what was created, skipped and failed (exit 1 when any row failed)",
        "songsdb import catalogue.csv --on-duplicate skip",
    ),
    "queue": (
        cmd_queue,
        "queued, running, failed and expired-lease counts per model, as the operations login; --sweep first "
        "requeues (attempts left) or fails (none left) running jobs whose lease expired, of every job type",
        "songsdb queue --sweep",
    ),
    "metrics": (
        cmd_metrics,
        "print the queue and job metrics in Prometheus' text format (one ops.GetQueueMetrics call), as the operations login",
        "songsdb metrics --window 300",
    ),
    "console": (
        cmd_console,
        "serve the operations console (Flask; 127.0.0.1 unless --host, which then needs SONGSDB_CONSOLE_TOKEN or "
        "SONGSDB_CONSOLE_USER/PASSWORD), as the operations login",
        "songsdb console --port 8900 --read-only",
    ),
    "up": (
        cmd_up,
        "check the Docker engine, the image and the port, then create or reuse a volume and the SQL Server "
        "container, wait for it, migrate, create one login per duty role (web, worker, ops) and write .env.songs-db",
        "songsdb up --port 1433",
    ),
    "start": (cmd_start, "start the stopped container", "songsdb start"),
    "stop": (cmd_stop, "stop the container (its volume and data stay)", "songsdb stop"),
    "down": (cmd_down, "remove the container; the volume stays for the next up", "songsdb down"),
    "logs": (cmd_logs, "print the container's log", "songsdb logs -f"),
    "shell": (cmd_shell, "open sqlcmd inside the container as sa", "songsdb shell"),
    "volumes": (cmd_volumes, "list the volumes under ~/.sqlcontainers with their metadata (--create makes a new one)", "songsdb volumes --create"),
    "backup": (cmd_backup, "BACKUP DATABASE ... WITH CHECKSUM into the volume, then RESTORE VERIFYONLY", "songsdb backup"),
    "restore": (cmd_restore, "replace the database with a backup from the volume's backup folder", "songsdb restore SongsDB_20261125120000.bak"),
    "space": (cmd_space, "how much room the database takes (sp_spaceused)", "songsdb space"),
    "errors": (
        cmd_errors,
        "the error catalogue: each number the procedures THROW, the Python exception it becomes, what it means "
        "and which procedures throw it (offline)",
        "songsdb errors --markdown",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every sub-command has help and an example."""
    me = program()
    parser = argparse.ArgumentParser(
        prog=me,
        description="songsdb: SQL Server persistence for the audio-processing backend.",
        epilog=f"Settings come from SONGSDB_* variables, then {ENV_FILE}. Example: {me} migrate",
    )
    parser.add_argument("--env-file", default=ENV_FILE, help=f"settings file (default {ENV_FILE})")
    parser.add_argument("--database", help="database name (overrides SONGSDB_DATABASE)")
    parser.add_argument("--connection-string", help="a whole ODBC connection string (overrides SONGSDB_*)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, summary, example) in COMMANDS.items():
        example = example.replace("songsdb ", f"{me} ", 1)
        sub_parser = sub.add_parser(name, help=summary, description=summary, epilog=f"Example: {example}")
        sub_parser.set_defaults(handler=handler)
        if name == "migrate":
            sub_parser.add_argument(
                "--create-database",
                action="store_true",
                help="create the database first when it does not exist (connects to master; SQL Server and "
                "Managed Instance only, not Azure SQL Database). Without it a missing database is an error",
            )
        if name == "script":
            sub_parser.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")
            group = sub_parser.add_mutually_exclusive_group()
            group.add_argument(
                "--pending", action="store_true",
                help="only what the server still needs (connects); its views, functions and procedures come before a "
                "pending maintenance-window step, so a step that refuses leaves them in place",
            )
            group.add_argument("--all", action="store_true", help="everything, from an empty database (default; offline)")
            sub_parser.add_argument("--engine", choices=("sqlserver", "babelfish"), default="sqlserver", help="target engine for --all")
            sub_parser.add_argument(
                "--create-database",
                metavar="NAME",
                help="start by creating database NAME when missing and switching to it (run with sqlcmd -b -I -i, no -d)",
            )
        if name == "lint":
            sub_parser.add_argument("--engine", choices=("sqlserver", "babelfish"), help="lint this engine's rendering only (default: both)")
        if name == "cleanup":
            sub_parser.add_argument("--days", type=int, required=True, help="keep jobs, results and songs this many days (7 or more)")
            sub_parser.add_argument("--audit-days", type=int, default=365, help="keep audit rows this many days (90 or more; default 365)")
            sub_parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
            sub_parser.add_argument("--time-limit", type=int, help="stop cleanly between batches after this many seconds")
        if name == "import":
            sub_parser.add_argument("file", help="a .csv file, or .jsonl with one JSON object a line")
            sub_parser.add_argument("--format", choices=("csv", "jsonl"), help="the file's format (default: from its suffix)")
            sub_parser.add_argument("--chunk-size", type=int, default=1000, help="rows per call and transaction (1 to 4000, below lock escalation; default 1000)")
            sub_parser.add_argument(
                "--on-duplicate", choices=("skip", "update"), default="skip",
                help="a file id already stored: skip the row (default) or write its values over the stored ones",
            )
            sub_parser.add_argument("--show-failures", type=int, default=20, help="how many failed rows to list (default 20)")
        if name == "queue":
            sub_parser.add_argument(
                "--sweep", action="store_true",
                help="first requeue or fail running jobs whose lease expired, of any job type and model (ops.SweepExpiredLeases), "
                "and print each",
            )
            sub_parser.add_argument("--limit", type=int, default=1000, help="with --sweep: at most this many jobs (1 to 4000; default 1000)")
        if name == "baseline":
            sub_parser.add_argument("version", type=int, help="the last versioned script the database already has")
        if name in ("up", "start", "stop", "down", "logs", "shell", "status"):
            sub_parser.add_argument("--container", help="container name (default songs-db)")
        if name == "up":
            sub_parser.add_argument("--image", help="image to run (default mcr.microsoft.com/mssql/server:2022-latest; e.g. a pinned :2022-CU16-ubuntu-22.04 or :2019-latest)")
            sub_parser.add_argument("--port", type=int, help="host port (default 1433)")
            sub_parser.add_argument(
                "--bind", metavar="ADDRESS",
                help="host address to publish the port on (default 127.0.0.1: this machine only; 0.0.0.0 for every "
                "interface, which lets the network try the sa login). A new container only",
            )
            sub_parser.add_argument("--volume", help="volume folder name to use (default: the newest, or a new one)")
            sub_parser.add_argument("--timeout", type=float, help="seconds to wait for the first login (default 180)")
        if name == "metrics":
            sub_parser.add_argument("--window", type=int, default=300, help="seconds the per-minute rates and latencies are over (10 to 86400; default 300)")
        if name == "console":
            sub_parser.add_argument("--host", help="address to listen on (default 127.0.0.1, or SONGSDB_CONSOLE_HOST)")
            sub_parser.add_argument("--port", type=int, help="port (default 8900, or SONGSDB_CONSOLE_PORT)")
            sub_parser.add_argument("--read-only", action="store_true", help="show everything, change nothing (also SONGSDB_CONSOLE_READ_ONLY=1)")
        if name == "errors":
            sub_parser.add_argument("--markdown", action="store_true", help="print the table as the README has it")
        if name == "volumes":
            sub_parser.add_argument("--create", action="store_true", help="create a new, empty volume first")
        if name == "logs":
            sub_parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
        if name == "restore":
            sub_parser.add_argument("file", help=f"a backup file name, as {me} backup prints it")
    return parser


def _is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the ODBC driver's (a pyodbc.Error or a subclass). pyodbc is not imported for this:
    when no module has imported it, nothing can have raised its errors."""
    pyodbc = sys.modules.get("pyodbc")
    return pyodbc is not None and isinstance(exc, pyodbc.Error)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; library errors become one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # here, so a reader that has gone is seen below and not at exit
        return code
    except SongsDbError as exc:
        print(f"songsdb {args.command}: {as_typed(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `songsdb errors | head -1`: the reader has gone, so stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere
        return 141
    except KeyboardInterrupt:
        print(f"songsdb {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a driver error the library did not map: still one line
        if not _is_driver_error(exc):
            raise
        from songsdb.errors import server_message

        print(f"songsdb {args.command}: database error: {server_message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
