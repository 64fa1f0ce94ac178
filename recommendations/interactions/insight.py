"""Insight for marketers, as pure functions: daily counts → rates → an SVG line chart.

The admin's insight page (recommendations/interactions/admin.py) shows, per template version and per offer,
impressions, click-through (clicks / impressions) and conversion (conversions / impressions) by
day, and a chart of the click-through by day with one line per template version, so a marketer
can tell which version works better. The counts come from ``selectors.interaction_daily_counts``;
everything here is plain data in, plain data (or SVG text) out. The chart is drawn on the server
(no script, no CDN: the admin works without internet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import escape


@dataclass
class Counts:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0

    def add(self, other: Counts) -> None:
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.conversions += other.conversions

    @property
    def ctr(self) -> float | None:
        """Clicks per impression; None without impressions."""
        return self.clicks / self.impressions if self.impressions else None

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.impressions if self.impressions else None


@dataclass
class Series:
    """One template version's (or offer's) counts by day, and in total."""

    label: str
    days: dict[date, Counts] = field(default_factory=dict)
    total: Counts = field(default_factory=Counts)


def series_by_label(rows: Iterable[tuple[str, date, str, int]]) -> list[Series]:
    """``(label, day, kind, count)`` rows → one ``Series`` per label, most impressions first."""
    found: dict[str, Series] = {}
    for label, day, kind, count in rows:
        series = found.setdefault(label, Series(label=label))
        counts = series.days.setdefault(day, Counts())
        delta = Counts(
            impressions=count if kind == "impression" else 0,
            clicks=count if kind == "click" else 0,
            conversions=count if kind == "convert" else 0,
        )
        counts.add(delta)
        series.total.add(delta)
    return sorted(found.values(), key=lambda s: (-s.total.impressions, s.label))


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")


def svg_rate_chart(
    series: Sequence[Series], days: Sequence[date], *, width: int = 720, height: int = 240, rate: str = "ctr"
) -> str:
    """A line chart of ``rate`` (``ctr`` or ``conversion_rate``) by day, one line per series
    (days without impressions leave a gap), with axes, day labels and a legend. Labels are
    escaped; the result is an ``<svg>`` element to embed as it is."""
    left, right, top, bottom = 48, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [
        value
        for s in series
        for day in days
        if (counts := s.days.get(day)) is not None and (value := getattr(counts, rate)) is not None
    ]
    peak = max(values, default=0.0)
    top_value = max(0.05, min(1.0, (int(peak * 20) + 1) / 20))  # the next 5% step above the peak

    def x(index: int) -> float:
        return left + (plot_w * index / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / top_value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(rate)} by day" class="insight-chart">',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
    ]
    for step in range(5):
        value = top_value * step / 4
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="10" text-anchor="end">{value:.0%}</text>'
            f'<line x1="{left}" y1="{y(value):.1f}" x2="{left + plot_w}" y2="{y(value):.1f}" stroke="#eee"/>'
        )
    label_every = max(1, len(days) // 8)
    for index, day in enumerate(days):
        if index % label_every == 0:
            parts.append(
                f'<text x="{x(index):.1f}" y="{top + plot_h + 16}" font-size="10" '
                f'text-anchor="middle">{day:%m-%d}</text>'
            )
    for number, s in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for index, day in enumerate(days):
            counts = s.days.get(day)
            value = getattr(counts, rate) if counts is not None else None
            if value is None:
                segments.append([])
                continue
            segments[-1].append(f"{x(index):.1f},{y(value):.1f}")
            parts.append(f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}"/>')
        for points in segments:
            if len(points) > 1:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>')
        legend_y = top + plot_h + 32
        legend_x = left + number * 170
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{legend_y + 1}" font-size="11">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def rate_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def summary_rows(series: Sequence[Series]) -> list[Mapping[str, object]]:
    """Table rows: label, impressions, clicks, click-through, conversions, conversion rate."""
    return [
        {
            "label": s.label,
            "impressions": s.total.impressions,
            "clicks": s.total.clicks,
            "ctr": rate_text(s.total.ctr),
            "conversions": s.total.conversions,
            "conversion_rate": rate_text(s.total.conversion_rate),
        }
        for s in series
    ]
