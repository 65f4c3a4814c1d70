"""Shared pytest setup: every test under tests/integration carries the `integration` marker."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

INTEGRATION_DIR = Path(__file__).parent / "integration"

# songsdb's pytest plugin (songsdb/testing.py) normally arrives through its pytest11 entry point,
# loaded before this file; load it here only when it did not (an editable install made before the
# entry point existed, or PYTEST_DISABLE_PLUGIN_AUTOLOAD=1), never twice.
pytest_plugins = [] if "songsdb.testing" in sys.modules else ["songsdb.testing"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    """One line per distinct skip reason (e.g. how to enable the integration tests), with its count."""
    from songsdb.testing import ENABLE, skip_reason

    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = skip_reason(report)
        if reason.startswith(ENABLE):
            continue  # the plugin's own summary line says it
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in reasons.items():
        terminalreporter.write_line(f"SKIPPED {count} test(s): {reason}")
