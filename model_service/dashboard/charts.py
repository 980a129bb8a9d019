"""SVG charts drawn on the server: no JavaScript library, no CDN, nothing to download.

Every function takes plain data and already-translated labels and returns ``Markup`` holding
one ``<svg>``. Every piece of text put into the SVG goes through ``escape`` — labels can hold
a segment name or product category that a shop typed, and that is hostile input like any other.
Colours come from CSS classes in ``static/dashboard.css`` (the CSP forbids inline styles).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from markupsafe import Markup, escape

Number = float | int
BAND_ORDER = ("low", "medium", "high")  # bottom to top of a stacked bar
# Width of a character of a tick label (11 px, the dashboard's sans-serif), for room at the left.
TICK_CHAR_WIDTH = 6.5


@dataclass(frozen=True)
class Series:
    """One line of a line chart; ``points`` are (date, value) with None for a gap."""

    name: str
    points: Sequence[tuple[date, Number | None]]
    css_class: str = "series-0"


@dataclass(frozen=True)
class StageCell:
    """One stage of the journey map, with its figures already formatted for display."""

    key: str
    label: str
    headline: str  # e.g. "1 204 customers"
    rows: Sequence[tuple[str, str]]  # (label, formatted value)
    level: str  # "low" | "medium" | "high" | "none": how critical the stage is
    conversion: str | None = None  # to the next stage, formatted; None for the last stage
    href: str | None = None


@dataclass(frozen=True)
class Axis:
    """How a y axis is bounded and labelled."""

    low: float
    high: float
    fmt: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    ticks: int = 4


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(
    width: int, height: int, label: str, body: str, css: str = "chart", role: str = "img"
) -> Markup:
    # A picture with links in it is a "group": an "img" hides its links from screen readers.
    return Markup(
        f'<svg class="{css}" viewBox="0 0 {width} {height}" role="{role}" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def _as_ordinal(value: date | datetime) -> float:
    if isinstance(value, datetime):
        return value.timestamp() / 86400.0
    return float(value.toordinal() - date(1970, 1, 1).toordinal())


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    axis: Axis,
    x_label: Callable[[date], str] = lambda d: d.isoformat(),
    width: int = 640,
    height: int = 220,
    empty_text: str = "No data",
    value_fmt: Callable[[float], str] | None = None,
) -> Markup:
    """Lines over time with a dot per point; hovering a dot shows its date and value (in
    ``value_fmt``, else the axis format)."""
    value_fmt = value_fmt or axis.fmt
    left, right, top = 44, 12, 12
    bottom = 48 if len(series) > 1 else 30
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [_as_ordinal(d) for s in series for d, v in s.points if v is not None]
    parts: list[str] = []
    for i in range(axis.ticks + 1):
        value = axis.low + (axis.high - axis.low) * i / axis.ticks
        y = top + plot_h - plot_h * i / axis.ticks
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="tick" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(axis.fmt(value))}</text>"
        )
    if not xs:
        parts.append(
            f'<text class="empty" x="{width / 2}" y="{top + plot_h / 2}" text-anchor="middle">'
            f"{escape(empty_text)}</text>"
        )
        return _svg(width, height, title, "".join(parts))
    x_low, x_high = min(xs), max(xs)
    span = (x_high - x_low) or 1.0

    def x_of(d: date) -> float:
        if x_high == x_low:
            return left + plot_w / 2
        return left + plot_w * (_as_ordinal(d) - x_low) / span

    def y_of(v: float) -> float:
        clamped = min(max(v, axis.low), axis.high)
        return top + plot_h - plot_h * (clamped - axis.low) / ((axis.high - axis.low) or 1)

    all_dates = sorted({d for s in series for d, v in s.points if v is not None})
    step = max(1, len(all_dates) // 6)
    shown = all_dates[::step]
    for i, d in enumerate(shown):
        # The outermost labels lean inwards so that they are never cut at the edges.
        anchor = "middle"
        if len(shown) > 1 and i == 0:
            anchor = "start"
        elif len(shown) > 1 and i == len(shown) - 1 and d == all_dates[-1]:
            anchor = "end"
        parts.append(
            f'<text class="tick" x="{_num(x_of(d))}" y="{height - bottom + 16}" '
            f'text-anchor="{anchor}">{escape(x_label(d))}</text>'
        )
    for s in series:
        segments: list[list[str]] = [[]]
        dots: list[str] = []
        for d, v in s.points:
            if v is None:
                segments.append([])
                continue
            x, y = x_of(d), y_of(float(v))
            segments[-1].append(f"{_num(x)},{_num(y)}")
            dots.append(
                f'<circle class="dot {s.css_class}" cx="{_num(x)}" cy="{_num(y)}" r="3.5">'
                f"<title>{escape(s.name)} · {escape(x_label(d))}: {escape(value_fmt(float(v)))}"
                "</title></circle>"
            )
        for points in segments:
            if len(points) > 1:
                parts.append(f'<polyline class="line {s.css_class}" points="{" ".join(points)}"/>')
        parts.extend(dots)
    if len(series) > 1:
        x = left
        for s in series:
            parts.append(
                f'<rect class="swatch {s.css_class}" x="{x}" y="{height - 13}" width="10" '
                f'height="10" rx="2"/><text class="legend" x="{x + 14}" y="{height - 4}">'
                f"{escape(s.name)}</text>"
            )
            x += 24 + 7 * len(s.name)
    return _svg(width, height, title, "".join(parts))


def risk_histogram(
    counts: Sequence[Mapping[str, int]],
    cuts: Mapping[str, float],
    *,
    title: str,
    band_labels: Mapping[str, str],
    value_fmt: Callable[[float], str],
    cut_fmt: Callable[[str, float], str],
    width: int = 420,
    height: int = 200,
) -> Markup:
    """Scores per equal-width probability bin, each bar stacked by the band its scores were
    given, with a dashed line where each band begins (``cuts``: band -> lowest probability)."""
    left, right, top, bottom = 12, 12, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(bucket.values()) for bucket in counts]
    peak = max(totals, default=0) or 1
    slot = plot_w / max(len(counts), 1)
    parts: list[str] = [
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/>'
    ]
    for i, bucket in enumerate(counts):
        x = left + i * slot + slot * 0.12
        y = top + plot_h
        for band in BAND_ORDER:
            n = bucket.get(band, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(
                f'<rect class="bar band-{escape(band)}" x="{_num(x)}" y="{_num(y)}" '
                f'width="{_num(slot * 0.76)}" height="{_num(h)}"><title>'
                f"{escape(band_labels.get(band, band))}: {escape(value_fmt(n))}</title></rect>"
            )
        if totals[i]:
            parts.append(
                f'<text class="value" x="{_num(x + slot * 0.38)}" y="{_num(y - 5)}" '
                f'text-anchor="middle">{escape(value_fmt(totals[i]))}</text>'
            )
        parts.append(
            f'<text class="tick" x="{_num(x + slot * 0.38)}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{i * 100 // len(counts)}%</text>'
        )
    for band, start in cuts.items():
        x = left + plot_w * min(max(start, 0.0), 1.0)
        parts.append(
            f'<line class="cut band-{escape(band)}" x1="{_num(x)}" x2="{_num(x)}" y1="{top}" '
            f'y2="{top + plot_h}"><title>{escape(cut_fmt(band, start))}</title></line>'
        )
    return _svg(width, height, title, "".join(parts))


def calibration_chart(
    points: Sequence[tuple[float, float, int]],
    *,
    title: str,
    x_title: str,
    y_title: str,
    perfect_label: str,
    size: int = 300,
) -> Markup:
    """Predicted probability against the observed rate, one dot per bin sized by its count.

    Dots on the diagonal mean a score of 0.3 really is about 30 in 100.
    """
    pad_l, pad_t, pad_r = 44, 12, 22  # the bottom keeps what the square plot leaves: 34
    plot = size - pad_l - pad_r

    def xy(p: float, q: float) -> tuple[float, float]:
        return pad_l + plot * p, pad_t + plot - plot * q

    parts: list[str] = []
    for i in range(5):
        v = i / 4
        x, y = xy(v, v)
        parts.append(
            f'<line class="grid" x1="{pad_l}" x2="{pad_l + plot}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="tick" x="{pad_l - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{round(v * 100)}%</text>"
            f'<text class="tick" x="{_num(x)}" y="{pad_t + plot + 16}" text-anchor="middle">'
            f"{round(v * 100)}%</text>"
        )
    x0, y0 = xy(0, 0)
    x1, y1 = xy(1, 1)
    parts.append(
        f'<line class="diagonal" x1="{_num(x0)}" y1="{_num(y0)}" x2="{_num(x1)}" '
        f'y2="{_num(y1)}"><title>{escape(perfect_label)}</title></line>'
    )
    peak = max((n for _, _, n in points), default=1) or 1
    line: list[str] = []
    for predicted, observed, count in points:
        x, y = xy(predicted, observed)
        line.append(f"{_num(x)},{_num(y)}")
        radius = 3 + 5 * (count / peak) ** 0.5
        parts.append(
            f'<circle class="dot series-0" cx="{_num(x)}" cy="{_num(y)}" r="{_num(radius)}">'
            f"<title>{round(predicted * 100)}% → {round(observed * 100)}% (n={count})</title>"
            "</circle>"
        )
    if len(line) > 1:
        parts.insert(0, f'<polyline class="line series-0" points="{" ".join(line)}"/>')
    parts.append(
        f'<text class="axis-title" x="{pad_l + plot / 2}" y="{size - 6}" text-anchor="middle">'
        f"{escape(x_title)}</text>"
        f'<text class="axis-title" transform="translate(11 {pad_t + plot / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_title)}</text>'
    )
    return _svg(size, size, title, "".join(parts))


def probability_meter(probability: float, band: str, width: int = 72) -> Markup:
    """A small horizontal gauge for a table cell."""
    filled = max(0.0, min(1.0, probability)) * width
    return Markup(
        f'<svg class="meter" viewBox="0 0 {width} 8" width="{width}" height="8" '
        f'aria-hidden="true" xmlns="http://www.w3.org/2000/svg">'
        f'<rect class="meter-track" width="{width}" height="8" rx="4"/>'
        f'<rect class="meter-fill band-{escape(band)}" width="{_num(filled)}" height="8" rx="4"/>'
        "</svg>"
    )


def journey_map(
    stages: Sequence[StageCell],
    *,
    title: str,
    loop_label: str,
    box_width: int = 178,
    gap: int = 44,
) -> Markup:
    """The whole journey in one picture: stages left to right, the conversion on each arrow,
    and the loop from the last stage back to ``desire`` drawn above the boxes."""
    top = 84
    row_h = 19
    n_rows = max((len(s.rows) for s in stages), default=0)
    box_h = 58 + row_h * n_rows
    width = len(stages) * box_width + (len(stages) - 1) * gap + 20
    height = top + box_h + 16
    parts: list[str] = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path class="arrow-head" '
        'd="M0,0 L10,5 L0,10 z"/></marker></defs>'
    ]
    x_of = {s.key: 10 + i * (box_width + gap) for i, s in enumerate(stages)}
    if "desire" in x_of and len(stages) > 1:
        start = x_of[stages[-1].key] + box_width / 2
        end = x_of["desire"] + box_width / 2
        parts.append(
            f'<path class="loop" d="M{_num(start)},{top} C{_num(start)},30 {_num(end)},30 '
            f'{_num(end)},{top - 2}" marker-end="url(#arrow)"/>'
            f'<text class="loop-label" x="{_num((start + end) / 2)}" y="18" '
            f'text-anchor="middle">↺ {escape(loop_label)}</text>'
        )
    for i, s in enumerate(stages):
        x = x_of[s.key]
        box = [
            f'<rect class="stage level-{escape(s.level)}" x="{x}" y="{top}" '
            f'width="{box_width}" height="{box_h}" rx="10"/>'
            f'<rect class="stage-band level-{escape(s.level)}" x="{x}" y="{top}" '
            f'width="{box_width}" height="6" rx="3"/>'
            f'<text class="stage-name" x="{x + 12}" y="{top + 26}">{escape(s.label)}</text>'
            f'<text class="stage-headline" x="{x + 12}" y="{top + 46}">'
            f"{escape(s.headline)}</text>"
        ]
        for r, (label, value) in enumerate(s.rows):
            y = top + 70 + r * row_h
            box.append(
                f'<text class="row-label" x="{x + 12}" y="{y}">{escape(label)}</text>'
                f'<text class="row-value" x="{x + box_width - 12}" y="{y}" text-anchor="end">'
                f"{escape(value)}</text>"
            )
        group = "".join(box)
        if s.href:
            group = f'<a href="{escape(s.href)}">{group}</a>'
        parts.append(f'<g class="stage-group">{group}</g>')
        if i + 1 < len(stages):
            ax = x + box_width + 4
            ay = top + box_h / 2
            parts.append(
                f'<line class="flow" x1="{ax}" y1="{_num(ay)}" x2="{ax + gap - 8}" '
                f'y2="{_num(ay)}" marker-end="url(#arrow)"/>'
            )
            if s.conversion:
                parts.append(
                    f'<text class="flow-label" x="{ax + (gap - 8) / 2}" y="{_num(ay - 8)}" '
                    f'text-anchor="middle">{escape(s.conversion)}</text>'
                )
    return _svg(width, height, title, "".join(parts), css="journey-map", role="group")


def grouped_bars(
    groups: Sequence[str],
    series: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    title: str,
    value_fmt: Callable[[float], str],
    intervals: Mapping[tuple[int, int], tuple[float, float]] | None = None,
    bar_width: int = 9,
    height: int = 260,
) -> Markup:
    """One group of bars per ``groups`` entry, one bar per ``series`` (classes ``series-i``),
    ``values[group][series]``; ``intervals`` draws a whisker (low, high) on chosen bars."""
    peak = max(
        [v for row in values for v in row] + [hi for _lo, hi in (intervals or {}).values()],
        default=0.0,
    )
    peak = peak or 1.0
    ticks = [(peak * i / 4, value_fmt(peak * i / 4)) for i in range(5)]
    # Room on the left for the widest tick label (money can be "SEK 1,234,567").
    left = max(56, 12 + round(TICK_CHAR_WIDTH * max(len(text) for _v, text in ticks)))
    top, bottom, right = 14, 74, 10
    group_w = bar_width * len(series) + 14
    width = left + right + group_w * max(len(groups), 1)
    plot_h = height - top - bottom

    def y_of(value: float) -> float:
        return top + plot_h - plot_h * max(value, 0.0) / peak

    parts: list[str] = []
    for v, text in ticks:
        y = y_of(v)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_num(y)}" '
            f'y2="{_num(y)}"/><text class="tick" x="{left - 6}" y="{_num(y + 4)}" '
            f'text-anchor="end">{escape(text)}</text>'
        )
    for g, name in enumerate(groups):
        x0 = left + g * group_w + 7
        for s, series_name in enumerate(series):
            value = values[g][s]
            x = x0 + s * bar_width
            y = y_of(value)
            parts.append(
                f'<rect class="bar series-{s}" x="{_num(x)}" y="{_num(y)}" '
                f'width="{bar_width - 1}" height="{_num(top + plot_h - y)}"><title>'
                f"{escape(name)} · {escape(series_name)}: {escape(value_fmt(value))}"
                "</title></rect>"
            )
            if intervals and (g, s) in intervals:
                low, high = intervals[(g, s)]
                cx = x + (bar_width - 1) / 2
                parts.append(
                    f'<path class="whisker" d="M{_num(cx)},{_num(y_of(low))} '
                    f"V{_num(y_of(high))} M{_num(cx - 3)},{_num(y_of(low))} "
                    f'h6 M{_num(cx - 3)},{_num(y_of(high))} h6"><title>{escape(name)} · '
                    f"{escape(series_name)}: {escape(value_fmt(low))}–{escape(value_fmt(high))}"
                    "</title></path>"
                )
        cx = x0 + bar_width * len(series) / 2
        parts.append(
            f'<text class="tick" transform="translate({_num(cx)} {top + plot_h + 12}) '
            f'rotate(-35)" text-anchor="end">{escape(name)}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/>'
    )
    return _svg(width, height, title, "".join(parts))


def stage_split(
    stages: Sequence[tuple[str, Sequence[tuple[str, float, str]]]],
    *,
    title: str,
    box_width: int = 178,
    gap: int = 44,
    row_h: int = 19,
) -> Markup:
    """The journey map's stage boxes split by channel: per stage (label, [(channel label,
    share, css class)]) a box of bars, one per channel, as wide as its share; aligned with
    ``journey_map``'s boxes (same width and gap)."""
    n_rows = max((len(rows) for _label, rows in stages), default=0)
    box_h = 48 + row_h * n_rows
    width = len(stages) * box_width + max(len(stages) - 1, 0) * gap + 20
    parts: list[str] = []
    for i, (label, rows) in enumerate(stages):
        x = 10 + i * (box_width + gap)
        parts.append(
            f'<rect class="stage level-none" x="{x}" y="4" width="{box_width}" '
            f'height="{box_h}" rx="10"/>'
            f'<text class="stage-name" x="{x + 12}" y="28">{escape(label)}</text>'
        )
        for r, (channel, share, css) in enumerate(rows):
            y = 52 + r * row_h
            bar = (box_width - 24) * max(0.0, min(share, 1.0))
            parts.append(
                f'<rect class="bar {escape(css)}" x="{x + 12}" y="{y - 12}" '
                f'width="{_num(bar)}" height="{row_h - 5}" rx="3"/>'
                f'<text class="row-label" x="{x + 16}" y="{y}">{escape(channel)}</text>'
                f'<text class="row-value" x="{x + box_width - 12}" y="{y}" '
                f'text-anchor="end">{round(share * 100)} %</text>'
            )
    return _svg(width, box_h + 8, title, "".join(parts), css="journey-map")
