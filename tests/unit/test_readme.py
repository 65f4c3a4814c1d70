"""The README tells the truth about the code: every `songsdb` command and option it names exists in the
CLI's argparse parser, every SONGSDB_* setting it names is read somewhere (and every setting config.py
reads is documented), every repository path it names exists, its error catalogue is the one the code
builds, and its test command is the one .ci/run runs."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from songsdb import config
from songsdb.cli import COMMANDS, build_parser, error_catalogue

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
# What a README reader can be pointed at in a clone; tool caches and the venv are not the repository.
NOT_REPOSITORY = {".git", ".venv", ".mypy_cache", ".pytest_cache", ".hypothesis", "__pycache__", "build", "dist"}
TOP_LEVEL = {p.name for p in REPO.iterdir()} - NOT_REPOSITORY
GLOBAL_OPTIONS_WITH_VALUES = {"--env-file", "--database", "--connection-string"}


def code_texts(markdown: str) -> list[str]:
    """The contents of every fenced block and every inline code span."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", markdown, flags=re.DOTALL | re.MULTILINE)
    return blocks + re.findall(r"`([^`\n]+)`", prose)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


GLOBAL = _options(build_parser())
SUBCOMMANDS = _subparsers()


def songsdb_invocations(text: str) -> list[tuple[str, list[str]]]:
    """(command, the options after it) for every `songsdb …` command line in ``text``.

    A line's words after ``songsdb`` (or ``.venv/bin/songsdb``, ``python -m songsdb``): global
    options and their values, then the command, then its arguments up to a shell operator or comment.
    ``from songsdb import`` and ``songsdb.errors`` are Python, not command lines.
    """
    found = []
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote in prose-like code: fall back to plain words
            words = line.split()
        for i, word in enumerate(words):
            if word.rsplit("/", 1)[-1] != "songsdb" or (i and words[i - 1] in ("from", "import")):
                continue
            rest = words[i + 1 :]
            j = 0
            while j < len(rest) and rest[j].startswith("-"):
                j += 2 if rest[j] in GLOBAL_OPTIONS_WITH_VALUES else 1
            if j >= len(rest) or not re.match(r"^[a-z][\w-]*$", rest[j]) or rest[j] in ("is", "and", "or"):
                continue  # `songsdb --help`, `songsdb COMMAND`, prose
            args = []
            for arg in rest[j + 1 :]:
                if arg in ("&&", "||", "|", ";", ">", "#") or arg.startswith("#"):
                    break
                args.append(arg)
            found.append((rest[j], [a for a in args if re.match(r"^--?[A-Za-z][\w-]*$", a)]))
    return found


INVOCATIONS = [call for text in code_texts(README) for call in songsdb_invocations(text)]


def test_the_scan_finds_the_readmes_command_lines() -> None:
    commands = {command for command, _ in INVOCATIONS}
    assert {"migrate", "script", "up", "check", "cleanup"} <= commands
    assert ("script", ["--create-database", "-o"]) in INVOCATIONS
    assert songsdb_invocations("from songsdb import SongsDatabase") == []
    assert songsdb_invocations("SONGSDB_X=1 .venv/bin/songsdb --database D up --port 1 && sqlcmd -b") == [("up", ["--port"])]


def test_every_command_the_readme_names_exists() -> None:
    for command, _ in INVOCATIONS:
        assert command in SUBCOMMANDS, f"the README names `songsdb {command}`, which the CLI does not have"


def test_every_option_on_a_readme_command_line_exists_for_that_command() -> None:
    for command, options in INVOCATIONS:
        if command in SUBCOMMANDS:
            known = _options(SUBCOMMANDS[command]) | GLOBAL
            for option in options:
                assert option in known, f"the README gives `songsdb {command} {option}`, which the CLI does not take"


def test_every_option_the_readme_names_on_its_own_exists_in_the_cli() -> None:
    every = GLOBAL.union(*(_options(p) for p in SUBCOMMANDS.values()))
    # long options only: a bare `-b` or `-I` in the README is sqlcmd's (see "Running it with sqlcmd")
    alone = [t.split()[0] for t in code_texts(README) if re.match(r"^--[a-z][\w-]*( [A-Z_.]+)?$", t)]
    assert "--image" in alone  # the scan sees them
    for option in alone:
        if option.startswith("--songsdb-"):  # the pytest plugin's options
            plugin = REPO / "songsdb" / "testing.py"
            assert plugin.is_file() and option in plugin.read_text(), f"the README names pytest's {option}, which songsdb.testing does not add"
            continue
        assert option in every, f"the README names `{option}`, which no songsdb command takes"


def test_every_command_is_documented_in_the_readme() -> None:
    documented = {command for command, _ in INVOCATIONS}
    assert set(COMMANDS) <= documented, f"undocumented: {sorted(set(COMMANDS) - documented)}"


def _read_by_config() -> set[str]:
    """Every SONGSDB_* variable load_settings reads: the base names and each role's own login settings."""
    names = set(config._ENV_NAMES.values())
    for role in config.ROLES:
        if role != "web":
            names |= {config._role_variable(role, config._ENV_NAMES[n]) for n in config._ROLE_SPECIFIC}
    return names


def _named_in_code() -> set[str]:
    """SONGSDB_* names spelled in full anywhere in the package, the tests, the benchmarks or the examples."""
    names: set[str] = set()
    for folder in ("songsdb", "tests", "bench", "examples"):
        for path in (REPO / folder).rglob("*.py"):
            names |= set(re.findall(r"\bSONGSDB_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    return names


def test_every_setting_the_readme_names_is_read_by_the_code() -> None:
    known = _read_by_config() | _named_in_code()
    named = set(re.findall(r"\bSONGSDB_[A-Z0-9_]*[A-Z0-9]\b", README))
    assert {"SONGSDB_SERVER", "SONGSDB_OPS_CONNECTION_STRING"} <= named
    assert named <= known, f"the README names settings nothing reads: {sorted(named - known)}"


def test_every_setting_config_reads_is_in_the_readmes_settings_table() -> None:
    section = README.split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    missing = {name for name in _read_by_config() if f"`{name}`" not in section}
    assert not missing, f"settings config.py reads but the README's Settings section does not name: {sorted(missing)}"
    assert "`SONGSDB_VOLUMES`" in section  # read by songsdb/volumes.py


def _path_candidates() -> list[str]:
    words = []
    for text in code_texts(README):
        words += re.split(r"[\s`'\"(),;=]+", text)
    words += re.findall(r"\]\(([^)#]+)\)", README)  # link targets
    return [w.rstrip(".:") for w in words if w]


def _file_names() -> set[str]:
    """The name of every file in the repository (the venv and tool caches pruned)."""
    import os

    names: set[str] = set()
    for _, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if d not in NOT_REPOSITORY]
        names.update(files)
    return names


def test_every_repository_path_the_readme_names_exists() -> None:
    checked = []
    links = set(re.findall(r"\]\(([^)#:]+)\)", README))  # relative link targets are always paths
    for word in _path_candidates():
        first = word.split("/", 1)[0]
        if word not in links and (first not in TOP_LEVEL or ("/" not in word and "." not in word)):
            continue
        pattern = re.sub(r"<[^>]+>", "*", word)  # `sql/procs/<schema>.<Name>.sql` is a pattern
        matches = list(REPO.glob(pattern)) if "*" in pattern else [REPO / pattern]
        assert any(m.exists() for m in matches), f"the README names {word}, which is not in the repository"
        checked.append(word)
    assert {"scripts/setup", "songsdb/local_sql/ensure_role_login.sql", "CONTRIBUTING.md", "sql/procs/<schema>.<Name>.sql"} <= set(checked)


def test_every_file_the_readme_names_by_its_bare_name_exists() -> None:
    bare = [t for t in code_texts(README) if re.match(r"^[\w.-]+\.(py|sql|md|toml)$", t)]
    assert {"config.py", "0009_babelfish_grants_by_duty.sql"} <= set(bare)  # the scan sees them
    files = _file_names()
    for name in bare:
        assert name in files, f"the README names {name}, which is nowhere in the repository"


def test_every_heading_link_in_the_readme_leads_somewhere() -> None:
    def slug(heading: str) -> str:
        return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")

    headings = {slug(h) for h in re.findall(r"^#{1,6} (.+)$", README, re.MULTILINE)}
    for anchor in re.findall(r"\]\(#([^)]+)\)", README):
        assert anchor in headings, f"README link #{anchor} has no heading"


def test_the_error_catalogue_table_is_the_one_the_code_builds() -> None:
    rows = [line for line in README.splitlines() if re.match(r"^\| 5\d{4} \|", line)]
    expected = []
    for number, error, parent, meaning, where in error_catalogue():
        kind = f" (subclass of `{parent}`)" if parent else ""
        expected.append(f"| {number} | `{error}`{kind} | {meaning} | {', '.join(f'`{w}`' for w in where)} |")
    assert rows == expected, "regenerate the README's catalogue with: songsdb errors --markdown"


def test_the_readme_leads_with_the_two_commands_and_ci_runs_its_test_command() -> None:
    first_block = re.search(r"^```bash\n(.*?)^```", README, re.DOTALL | re.MULTILINE)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["bash scripts/setup-songs-db", "bash scripts/test"]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if not line.lstrip().startswith("#")]
    runs = [line for line in ci if "scripts/test" in line]
    # every test phase runs exactly the README's test command (with pytest arguments after it)
    assert runs and all(re.search(rf"(^|\s){re.escape(commands[1])}(\s|$)", line) for line in runs), runs


def test_the_readme_says_how_to_run_songsdb_after_setup() -> None:
    intro = README.split("\n## ", 1)[0]
    assert ".venv/bin/songsdb" in intro and "source .venv/bin/activate" in intro
    assert "source .venv/bin/activate" in (REPO / "scripts" / "setup").read_text()


@pytest.mark.parametrize("block", re.findall(r"^```python\n(.*?)^```", README, re.DOTALL | re.MULTILINE))
def test_every_python_example_compiles_and_calls_real_methods(block: str) -> None:
    from songsdb import SongsDatabase

    compile(block, "README.md", "exec")
    for method in re.findall(r"\bdb\.(\w+)\(", block):
        assert hasattr(SongsDatabase, method), f"the README calls db.{method}(), which SongsDatabase does not have"
