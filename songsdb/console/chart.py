"""The overview's throughput chart: an SVG drawn on the server (no script, no asset fetched from elsewhere).

Completed jobs are solid bars, failures hatched bars stacked on them, so the chart reads without
colour; every number is also in the bar's ``<title>`` (a tooltip and what a screen reader says).
The SVG is built from numbers and fixed text only, and the labels are escaped anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from html import escape

from songsdb.models import ThroughputMinute

__all__ = ["Bucket", "buckets", "svg"]

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 200, 40, 24, 10


class Bucket:
    __slots__ = ("start", "completed", "failed")

    def __init__(self, start: datetime, completed: int = 0, failed: int = 0) -> None:
        self.start = start
        self.completed = completed
        self.failed = failed


def buckets(rows: Sequence[ThroughputMinute], *, hours: int = 24, minutes_per_bucket: int = 30,
            now: datetime | None = None) -> list[Bucket]:
    """The minutes of ``rows`` summed into ``hours * 60 / minutes_per_bucket`` buckets ending at ``now``."""
    now = now or datetime.now(timezone.utc)
    span = timedelta(minutes=minutes_per_bucket)
    count = hours * 60 // minutes_per_bucket
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - span * count
    result = [Bucket(start + span * i) for i in range(count)]
    for row in rows:
        index = int((row.minute_start - start) / span)
        if 0 <= index < count:
            result[index].completed += row.completed
            result[index].failed += row.failed
    return result


def svg(data: Sequence[Bucket]) -> str:
    """The chart as an inline ``<svg>`` element."""
    peak = max((b.completed + b.failed for b in data), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(data), 1)
    bar = max(slot - 2, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title" class="chart">',
        '<title id="chart-title">Jobs completed (solid) and failed (hatched) over the last 24 hours</title>',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="3"/>'
        "</pattern></defs>",
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" stroke="#000"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, b in enumerate(data):
        x = LEFT + i * slot + 1
        done_h = plot_h * b.completed / peak
        fail_h = plot_h * b.failed / peak
        label = escape(f"{b.start:%H:%M} UTC: {b.completed} completed, {b.failed} failed")
        parts.append("<g>")
        parts.append(f"<title>{label}</title>")
        if b.completed:
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - done_h:.1f}" width="{bar:.1f}" height="{done_h:.1f}" fill="#2b5d8a"/>')
        if b.failed:
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - done_h - fail_h:.1f}" width="{bar:.1f}" height="{fail_h:.1f}" '
                'fill="url(#hatch)" stroke="#000" stroke-width="1"/>'
            )
        parts.append("</g>")
        if i % 8 == 0:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="11">{b.start:%H:%M}</text>')
    parts.append("</svg>")
    return "".join(parts)
