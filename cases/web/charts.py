"""Charts drawn on the server as SVG: horizontal bars, grouped bars, a heat map and a line
chart, each with a title, a text description and the table of its figures for screen readers
and for reading without the picture.

Every label goes through ``format_html`` (escaped); every number shown is localised. In a
right-to-left language the drawing mirrors: bars grow from the right and time runs from right
to left, while ``text-anchor`` stays logical (``start`` is the right edge under
``direction="rtl"``).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language_bidi
from django.utils.translation import gettext as _

WIDTH = 640
PAD = 12
LABEL_WIDTH = 180
VALUE_WIDTH = 52
FONT = 12
INK = "#1d2430"
GRID = "#d7dce3"
# The programme's colour first, the group's second (the same purple as its timeline lane).
COLOURS = ("#1f5fa8", "#6b3fa0", "#a8650a", "#1e7b4a", "#b3261e")
HEAT = "#b3261e"

Number = int | float


@dataclass(frozen=True)
class Chart:
    """An SVG drawing and the same figures as a table (``rows`` already formatted)."""

    chart_id: str
    title: str
    description: str
    svg: SafeString
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def fmt(value: Number | None, decimals: int | None = None) -> str:
    """A localised number; whole numbers without decimals; an en dash for no value."""
    if value is None:
        return "\u2013"
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 1
    text = number_format(value, decimal_pos=decimals, force_grouping=True)
    if value < 0 and get_language_bidi():
        # Isolated left-to-right, or the minus sign would trail the digits in Arabic.
        return f"\u2066{text}\u2069"
    return text


def percent(share: float) -> str:
    return _("%(n)s%%") % {"n": fmt(round(share * 100))}


def _c(value: float) -> str:
    """A coordinate: plain digits whatever the language (never localised)."""
    return f"{value:.1f}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times 10^k at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Evenly spaced round values covering ``low``..``high`` (``low`` ≤ 0 ≤ ``high``)."""
    span = max(high - low, 1.0)
    step = nice_ceiling(span / count)
    if span / count < 1:
        step = 1.0
    start = math.floor(low / step) * step
    out: list[float] = []
    value = start
    while value <= high + step * 0.5 and len(out) < 12:
        out.append(round(value, 6))
        if value >= high:
            break
        value += step
    return out


class _Canvas:
    """SVG elements in left-to-right coordinates, mirrored on output when ``rtl``."""

    def __init__(self, width: float, rtl: bool) -> None:
        self.width = width
        self.rtl = rtl
        self.parts: list[SafeString] = []

    def x(self, x: float, w: float = 0.0) -> float:
        return self.width - x - w if self.rtl else x

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: str,
        css: str = "bar",
        value: str = "",
        label: str = "",
        opacity: float = 1.0,
    ) -> None:
        tooltip = format_html("<title>{}</title>", label) if label else ""
        self.parts.append(
            format_html(
                '<rect class="{}" x="{}" y="{}" width="{}" height="{}" fill="{}"'
                ' fill-opacity="{}" data-value="{}">{}</rect>',
                css,
                _c(self.x(x, w)),
                _c(y),
                _c(max(w, 0.0)),
                _c(h),
                fill,
                f"{opacity:.2f}",
                value,
                tooltip,
            )
        )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        anchor: str = "start",
        css: str = "",
        lines: int = 1,
        chars: int = 28,
    ) -> None:
        """Text whose ``anchor`` is logical; long labels are wrapped on ``lines`` lines of
        about ``chars`` characters."""
        wrapped = _wrap(content, lines, chars) if lines > 1 else [content]
        x_out = _c(self.x(x))
        if len(wrapped) == 1:
            body = format_html("{}", wrapped[0])
        else:
            first_dy = -(len(wrapped) - 1) * 0.6
            body = format_html_join(
                "",
                '<tspan x="{}" dy="{}em">{}</tspan>',
                (
                    (x_out, f"{first_dy if i == 0 else 1.2:.1f}", line)
                    for i, line in enumerate(wrapped)
                ),
            )
        self.parts.append(
            format_html(
                '<text class="{}" x="{}" y="{}" text-anchor="{}" dominant-baseline="middle"'
                ' fill="{}">{}</text>',
                css,
                x_out,
                _c(y),
                anchor,
                INK,
                body,
            )
        )

    def line(
        self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = GRID, width: float = 1
    ) -> None:
        self.parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="{}"/>',
                _c(self.x(x1)),
                _c(y1),
                _c(self.x(x2)),
                _c(y2),
                stroke,
                str(width),
            )
        )

    def polyline(self, points: Sequence[tuple[float, float]], *, stroke: str, css: str) -> None:
        coords = " ".join(f"{_c(self.x(px))},{_c(py)}" for px, py in points)
        self.parts.append(
            format_html(
                '<polyline class="{}" points="{}" fill="none" stroke="{}" stroke-width="2"'
                ' stroke-linejoin="round"/>',
                css,
                coords,
                stroke,
            )
        )

    def circle(self, cx: float, cy: float, *, fill: str, css: str, value: str, label: str) -> None:
        self.parts.append(
            format_html(
                '<circle class="{}" cx="{}" cy="{}" r="2.5" fill="{}" data-value="{}">'
                "<title>{}</title></circle>",
                css,
                _c(self.x(cx)),
                _c(cy),
                fill,
                value,
                label,
            )
        )

    def legend(self, y: float, names: Sequence[str], colours: Sequence[str]) -> None:
        for (x, row), name, colour in zip(_legend_layout(names), names, colours, strict=False):
            line_y = y + row * LEGEND_ROW
            self.rect(x, line_y - 5, 10, 10, fill=colour, css="swatch")
            self.text(x + 14, line_y, name, css="legend")

    def render(self, chart_id: str, title: str, description: str, height: float) -> SafeString:
        return format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" id="{}" class="chart-svg" role="img"'
            ' viewBox="0 0 {} {}" width="{}" height="{}" direction="{}" font-size="{}"'
            ' aria-labelledby="{}-title {}-desc"><title id="{}-title">{}</title>'
            '<desc id="{}-desc">{}</desc>{}</svg>',
            chart_id,
            _c(self.width),
            _c(height),
            _c(self.width),
            _c(height),
            "rtl" if self.rtl else "ltr",
            str(FONT),
            chart_id,
            chart_id,
            chart_id,
            title,
            chart_id,
            description,
            mark_safe("".join(self.parts)),  # noqa: S308 - each part was built by format_html
        )


LEGEND_ROW = 18.0


def _legend_layout(names: Sequence[str]) -> list[tuple[float, int]]:
    """Where each legend entry starts (x, row): entries flow on and wrap to a new row."""
    out: list[tuple[float, int]] = []
    x, row = float(PAD), 0
    for name in names:
        width = 14 + len(name) * 7.0 + 18
        if x > PAD and x + width > WIDTH - PAD:
            x, row = float(PAD), row + 1
        out.append((x, row))
        x += width
    return out


def _legend_height(names: Sequence[str]) -> float:
    rows = 1 + max((row for _x, row in _legend_layout(names)), default=0)
    return rows * LEGEND_ROW + 6


def _wrap(text: str, lines: int, width: int = 28) -> list[str]:
    """Split ``text`` at spaces into at most ``lines`` lines of about ``width`` characters."""
    if len(text) <= width:
        return [text]
    out: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width and len(out) < lines - 1:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return out


def _rtl(rtl: bool | None) -> bool:
    return get_language_bidi() if rtl is None else rtl


def _x_axis(
    canvas: _Canvas, top_y: float, y: float, x0: float, x1: float, scale: list[float]
) -> None:
    top = scale[-1] or 1.0
    for tick in scale:
        x = x0 + (x1 - x0) * tick / top
        canvas.line(x, top_y, x, y, stroke=GRID)
        canvas.text(x, y + 10, fmt(tick), anchor="middle", css="tick")


def bar_chart(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[tuple[str, Number]],
    value_name: str,
    colours: Sequence[str] | None = None,
    rtl: bool | None = None,
) -> Chart:
    """One horizontal bar per label, growing from the inline start."""
    rtl = _rtl(rtl)
    bar_h, gap = 20.0, 10.0
    x0, x1 = float(PAD + LABEL_WIDTH + 8), float(WIDTH - PAD - VALUE_WIDTH)
    height = PAD + len(bars) * (bar_h + gap) + 26
    top = nice_ceiling(max((float(v) for _label, v in bars), default=0.0))
    scale = ticks(0, top)
    top = scale[-1] or 1.0
    canvas = _Canvas(WIDTH, rtl)
    axis_y = PAD + len(bars) * (bar_h + gap)
    _x_axis(canvas, PAD, axis_y, x0, x1, scale)
    for index, (label, value) in enumerate(bars):
        y = PAD + index * (bar_h + gap) + gap / 2
        w = (x1 - x0) * float(value) / top
        palette = colours or COLOURS[:1]
        colour = palette[index % len(palette)]
        canvas.text(PAD, y + bar_h / 2, label, css="label", lines=2)
        canvas.rect(x0, y, w, bar_h, fill=colour, value=str(value), label=f"{label}: {fmt(value)}")
        canvas.text(x0 + w + 4, y + bar_h / 2, fmt(value), css="value")
    description = "; ".join(f"{label}: {fmt(value)}" for label, value in bars)
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=canvas.render(chart_id, title, description, height),
        columns=["", value_name],
        rows=[[label, fmt(value)] for label, value in bars],
    )


def grouped_bar_chart(
    *,
    chart_id: str,
    title: str,
    groups: Sequence[tuple[str, Sequence[Number | None]]],
    series: Sequence[str],
    rtl: bool | None = None,
) -> Chart:
    """For each group (a stage), one bar per series (e.g. the programme's median days and the
    group's benchmark), with a legend. A missing value is written, not drawn."""
    rtl = _rtl(rtl)
    bar_h, inner, gap = 14.0, 2.0, 14.0
    legend_h = _legend_height(series)
    group_h = len(series) * (bar_h + inner) - inner
    x0, x1 = float(PAD + LABEL_WIDTH + 8), float(WIDTH - PAD - VALUE_WIDTH)
    body_top = PAD + legend_h
    axis_y = body_top + len(groups) * (group_h + gap)
    height = axis_y + 26
    values = [float(v) for _label, vs in groups for v in vs if v is not None]
    scale = ticks(0, nice_ceiling(max(values, default=0.0)))
    top = scale[-1] or 1.0
    canvas = _Canvas(WIDTH, rtl)
    canvas.legend(PAD + 6, series, COLOURS)
    _x_axis(canvas, body_top, axis_y, x0, x1, scale)
    for index, (label, vs) in enumerate(groups):
        y = body_top + index * (group_h + gap) + gap / 2
        canvas.text(PAD, y + group_h / 2, label, css="label", lines=2)
        for s_index, (name, value) in enumerate(zip(series, vs, strict=True)):
            by = y + s_index * (bar_h + inner)
            if value is None:
                canvas.text(x0 + 2, by + bar_h / 2, _("no data"), css="value muted")
                continue
            w = (x1 - x0) * float(value) / top
            canvas.rect(
                x0,
                by,
                w,
                bar_h,
                fill=COLOURS[s_index % len(COLOURS)],
                css=f"bar series-{s_index}",
                value=str(value),
                label=f"{label} — {name}: {fmt(value)}",
            )
            canvas.text(x0 + w + 4, by + bar_h / 2, fmt(value), css="value")
    description = "; ".join(
        f"{label}: " + ", ".join(f"{name} {fmt(v)}" for name, v in zip(series, vs, strict=True))
        for label, vs in groups
    )
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=canvas.render(chart_id, title, description, height),
        columns=["", *series],
        rows=[[label, *(fmt(v) for v in vs)] for label, vs in groups],
    )


def heat_map(
    *,
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    columns: Sequence[str],
    rtl: bool | None = None,
) -> Chart:
    """Shares (0 to 1) in a grid: one row per label, one column each; the darker, the larger.
    Each cell is written as a percentage too."""
    rtl = _rtl(rtl)
    cell_h, head_h = 30.0, 48.0
    x0 = float(PAD + LABEL_WIDTH + 8)
    cell_w = (WIDTH - PAD - x0) / max(len(columns), 1)
    height = PAD + head_h + len(rows) * cell_h + PAD
    canvas = _Canvas(WIDTH, rtl)
    for c_index, name in enumerate(columns):
        canvas.text(
            x0 + c_index * cell_w + cell_w / 2,
            PAD + head_h / 2,
            name,
            anchor="middle",
            css="column",
            lines=3,
            chars=max(int(cell_w / 6.6), 6),
        )
    for r_index, (label, shares) in enumerate(rows):
        y = PAD + head_h + r_index * cell_h
        canvas.text(PAD, y + cell_h / 2, label, css="label", lines=2)
        for c_index, (name, share) in enumerate(zip(columns, shares, strict=True)):
            x = x0 + c_index * cell_w
            canvas.rect(
                x + 1,
                y + 1,
                cell_w - 2,
                cell_h - 2,
                fill=HEAT,
                css="cell",
                value=f"{share:.3f}",
                label=f"{label} — {name}: {percent(share)}",
                opacity=0.08 + 0.8 * max(0.0, min(share, 1.0)),
            )
            canvas.text(x + cell_w / 2, y + cell_h / 2, percent(share), anchor="middle")
    description = "; ".join(
        f"{label}: "
        + ", ".join(f"{name} {percent(s)}" for name, s in zip(columns, shares, strict=True))
        for label, shares in rows
    )
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=canvas.render(chart_id, title, description, height),
        columns=["", *columns],
        rows=[[label, *(percent(s) for s in shares)] for label, shares in rows],
    )


def line_chart(
    *,
    chart_id: str,
    title: str,
    days: Sequence[datetime.date],
    series: Sequence[tuple[str, Sequence[Number | None]]],
    rtl: bool | None = None,
) -> Chart:
    """One line per series over ``days``; a gap where a value is missing. Time runs along the
    inline direction (right to left in Arabic)."""
    rtl = _rtl(rtl)
    legend_h, plot_h = _legend_height([name for name, _vs in series]), 180.0
    x0, x1 = float(PAD + 44), float(WIDTH - PAD - 8)
    y_bottom = PAD + legend_h + plot_h
    height = y_bottom + 30
    values = [float(v) for _name, vs in series for v in vs if v is not None]
    high = nice_ceiling(max([*values, 0.0]))
    low = -nice_ceiling(-min([*values, 0.0])) if min([*values, 0.0]) < 0 else 0.0
    scale = ticks(low, high)
    low, high = scale[0], scale[-1]
    span = (high - low) or 1.0

    def y_of(value: float) -> float:
        return y_bottom - (value - low) / span * plot_h

    def x_of(index: int) -> float:
        return x0 + (x1 - x0) * (index / (len(days) - 1) if len(days) > 1 else 0.5)

    canvas = _Canvas(WIDTH, rtl)
    canvas.legend(PAD + 6, [name for name, _vs in series], COLOURS)
    for tick in scale:
        canvas.line(x0, y_of(tick), x1, y_of(tick), stroke=INK if tick == 0 else GRID)
        canvas.text(x0 - 6, y_of(tick), fmt(tick), anchor="end", css="tick")
    if days:
        last = len(days) - 1
        for index in sorted({0, last // 2, last}):
            canvas.text(
                x_of(index),
                y_bottom + 14,
                date_format(days[index], "MONTH_DAY_FORMAT"),
                # the end labels stay inside the drawing
                anchor=(
                    "middle" if not last or 0 < index < last else "start" if index == 0 else "end"
                ),
                css="tick",
            )
    for s_index, (name, vs) in enumerate(series):
        colour = COLOURS[s_index % len(COLOURS)]
        run: list[tuple[float, float]] = []
        for index, value in enumerate([*vs, None]):
            if value is None:
                if len(run) > 1:
                    canvas.polyline(run, stroke=colour, css=f"line series-{s_index}")
                run = []
                continue
            run.append((x_of(index), y_of(float(value))))
        for index, value in enumerate(vs):
            isolated = (index == 0 or vs[index - 1] is None) and (
                index == len(vs) - 1 or vs[index + 1] is None
            )
            # Dots on short ranges only (and where a value stands alone): a 90-day chart
            # would carry hundreds of them; the table below it has every figure.
            if value is not None and (len(days) <= 31 or isolated):
                canvas.circle(
                    x_of(index),
                    y_of(float(value)),
                    fill=colour,
                    css=f"point series-{s_index}",
                    value=str(value),
                    label=f"{date_format(days[index], 'SHORT_DATE_FORMAT')} — {name}: {fmt(value)}",
                )
    last = len(days) - 1
    description = (
        "; ".join(f"{name}: {fmt(vs[0])} → {fmt(vs[last])}" for name, vs in series if last >= 0)
        if days
        else _("No data yet.")
    )
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=canvas.render(chart_id, title, description, height),
        columns=[_("Day"), *(name for name, _vs in series)],
        rows=[
            [date_format(day, "SHORT_DATE_FORMAT"), *(fmt(vs[i]) for _name, vs in series)]
            for i, day in enumerate(days)
        ],
    )
