"""Charts as inline SVG, drawn on the server: pure functions from numbers to markup.

Four kinds are enough for the Analytics pages (vertical bars, a histogram, horizontal
bars, stacked bars), so no chart library is vendored: each is a few dozen lines, needs
no JavaScript, prints, and is read out by screen readers as one image with a label
(`role="img"`, `aria-label`, `<title>`); the page puts the same numbers in a table
below each chart.

Every piece of text that comes from data is escaped. Colours are presentation
attributes, so a chart opened on its own still has them; the page's stylesheet may
override them by class (`bar`, `series-N`, …), which the print stylesheet does to print
black on white.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 760
FONT = 12
CHAR_WIDTH = 7.2  # a generous average character of the 12 px sans fonts (DejaVu is wide)
BAR_COLOUR = "#2f5bd3"
GRID_COLOUR = "#dde3ea"
AXIS_COLOUR = "#5d6b7a"
# Stacked series: colours on screen; the print stylesheet turns them into greys.
SERIES_COLOURS = ["#5d6b7a", "#1e8449", "#c0392b", "#b9770e", "#2f5bd3", "#7d3c98"]


def fmt_number(value: float) -> str:
    """1234 -> '1,234'; 2.5 -> '2.5'."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def nice_ticks(maximum: float, *, count: int = 4, integer: bool = True) -> list[float]:
    """Round tick values from 0 to at least `maximum`, about `count` steps of 1, 2 or 5
    times a power of ten (whole numbers only when `integer`)."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0, 1]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1, round(step))
    top = math.ceil(maximum / step) * step
    ticks = []
    value = 0.0
    while value <= top + step / 1000:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _attrs(**attributes: object) -> str:
    """XML attributes, escaped; a trailing underscore is dropped (class_)."""
    return " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for name, value in attributes.items()
        if value is not None
    )


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _element(tag: str, inner: str = "", **attributes: object) -> str:
    """An SVG element; numbers are written with one decimal at most."""
    attrs = _attrs(
        **{k: _num(v) if isinstance(v, float | int) else v for k, v in attributes.items()}
    )
    return f"<{tag} {attrs}>{inner}</{tag}>" if inner else f"<{tag} {attrs}/>"


def _text(x: float, y: float, text: str, **attributes: object) -> str:
    return _element("text", escape(text), x=x, y=y, **attributes)


def _tooltip(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _svg(
    *, chart_id: str, title: str, summary: str, width: float, height: float, body: list[str]
) -> SafeString:
    label = f"{title}. {summary}" if summary else title
    # Safe: every piece of text in it went through escape().
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" {_attrs(id=chart_id, class_="chart")} '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'{_attrs(aria_label=label)} font-size="{FONT}" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


def _truncate(label: str, width: float) -> str:
    most = max(3, int(width / CHAR_WIDTH))
    return label if len(label) <= most else label[: most - 1] + "…"


def _label(x: float, y: float, label: str, width: float) -> str:
    """A row's label, right-aligned before its bar; shortened ones carry it in full."""
    short = _truncate(label, width)
    inner = escape(short) + (_tooltip(label) if short != label else "")
    return _element("text", inner, x=x, y=y, class_="tick", text_anchor="end")


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    title: str,
    x_label: str,
    y_label: str,
    summary: str = "",
    label_every: int = 1,
    show_values: bool = False,
    height: float = 260,
    width: float = WIDTH,
    describe: Callable[[str, float], str] | None = None,
) -> SafeString:
    """Vertical bars with a y axis of round ticks and every `label_every`-th x label.

    `describe(label, value)` is each bar's tooltip (`<title>`); `summary` is added to the
    chart's accessible name.
    """
    describe = describe or (lambda label, value: f"{label}: {fmt_number(value)}")
    ticks = nice_ticks(max((v for _, v in bars), default=0))
    top = ticks[-1]
    tick_width = max(len(fmt_number(t)) for t in ticks) * CHAR_WIDTH
    left, right, above, below = 28 + tick_width, 12, 16, 46
    plot_w, plot_h = width - left - right, height - above - below
    body = []
    for tick in ticks:
        y = above + plot_h - plot_h * tick / top
        body.append(
            _element(
                "line", class_="grid", x1=left, x2=width - right, y1=y, y2=y, stroke=GRID_COLOUR
            )
        )
        body.append(
            _text(
                left - 6,
                y + 4,
                fmt_number(tick),
                class_="tick",
                text_anchor="end",
                fill=AXIS_COLOUR,
            )
        )
    slot = plot_w / max(len(bars), 1)
    gap = min(slot * 0.2, 8)
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / top if top else 0
        x = left + i * slot + gap / 2
        y = above + plot_h - h
        body.append(
            _element(
                "rect",
                _tooltip(describe(label, value)),
                class_="bar",
                x=x,
                y=y,
                width=max(slot - gap, 0.5),
                height=h,
                fill=BAR_COLOUR,
            )
        )
        if show_values:
            body.append(
                _text(
                    x + (slot - gap) / 2,
                    y - 4,
                    fmt_number(value),
                    class_="value",
                    text_anchor="middle",
                )
            )
        if i % label_every == 0:
            body.append(
                _text(
                    left + i * slot + slot / 2,
                    above + plot_h + 16,
                    label,
                    class_="tick",
                    text_anchor="middle",
                    fill=AXIS_COLOUR,
                )
            )
    baseline = above + plot_h
    body.append(
        _element(
            "line",
            class_="axis",
            x1=left,
            x2=width - right,
            y1=baseline,
            y2=baseline,
            stroke=AXIS_COLOUR,
        )
    )
    body.append(
        _text(left + plot_w / 2, height - 8, x_label, class_="axis-label", text_anchor="middle")
    )
    mid = above + plot_h / 2
    body.append(
        _text(
            12,
            mid,
            y_label,
            class_="axis-label",
            text_anchor="middle",
            transform=f"rotate(-90 12 {mid:.1f})",
        )
    )
    return _svg(
        chart_id=chart_id, title=title, summary=summary, width=width, height=height, body=body
    )


def histogram(
    buckets: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    title: str,
    x_label: str,
    y_label: str,
    summary: str = "",
    width: float = WIDTH,
) -> SafeString:
    """A histogram over named buckets: touching bars, each with its count above it."""
    return bar_chart(
        buckets,
        chart_id=chart_id,
        title=title,
        x_label=x_label,
        y_label=y_label,
        summary=summary,
        show_values=True,
        width=width,
    )


def hbar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    title: str,
    x_label: str,
    summary: str = "",
    value_text: Callable[[float], str] = fmt_number,
    width: float = WIDTH,
    row_height: float = 24,
) -> SafeString:
    """Horizontal bars, one row per label (long labels are shortened, in full in the
    tooltip), the value written after each bar."""
    longest = max((len(label) for label, _ in bars), default=0)
    label_w = min(max(longest * CHAR_WIDTH, 60), width * 0.38)
    values_w = max((len(value_text(v)) for _, v in bars), default=1) * CHAR_WIDTH + 10
    left, right, above, below = label_w + 16, values_w + 6, 8, 36
    plot_w = width - left - right
    height = above + row_height * max(len(bars), 1) + below
    top = max((v for _, v in bars), default=0) or 1
    body = []
    for i, (label, value) in enumerate(bars):
        y = above + i * row_height
        w = plot_w * value / top
        body.append(_label(left - 8, y + row_height / 2 + 4, label, label_w))
        body.append(
            _element(
                "rect",
                _tooltip(f"{label}: {value_text(value)}"),
                class_="bar",
                x=left,
                y=y + 4,
                width=w,
                height=row_height - 8,
                fill=BAR_COLOUR,
            )
        )
        body.append(_text(left + w + 6, y + row_height / 2 + 4, value_text(value), class_="value"))
    baseline = above + row_height * max(len(bars), 1)
    body.append(
        _element("line", class_="axis", x1=left, x2=left, y1=above, y2=baseline, stroke=AXIS_COLOUR)
    )
    body.append(
        _text(left + plot_w / 2, height - 10, x_label, class_="axis-label", text_anchor="middle")
    )
    return _svg(
        chart_id=chart_id, title=title, summary=summary, width=width, height=height, body=body
    )


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    *,
    series: Sequence[str],
    chart_id: str,
    title: str,
    x_label: str,
    summary: str = "",
    width: float = WIDTH,
    row_height: float = 34,
) -> SafeString:
    """One horizontal bar per row, split into `series` (each row's values in that order),
    all on one scale, with a legend; counts are written in segments wide enough."""
    longest = max((len(label) for label, _ in rows), default=0)
    label_w = min(max(longest * CHAR_WIDTH, 50), width * 0.3)
    totals = [sum(values) for _, values in rows]
    total_w = max((len(fmt_number(t)) for t in totals), default=1) * CHAR_WIDTH + 10
    left, right, above = label_w + 16, total_w + 6, 8
    plot_w = width - left - right
    legend_y = above + row_height * max(len(rows), 1) + 18
    height = legend_y + 40
    top = max(totals, default=0) or 1
    body = []
    for i, (label, values) in enumerate(rows):
        y = above + i * row_height
        body.append(_label(left - 8, y + row_height / 2 + 4, label, label_w))
        x = left
        for s, (name, value) in enumerate(zip(series, values, strict=True)):
            if not value:
                continue
            w = plot_w * value / top
            colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
            body.append(
                _element(
                    "rect",
                    _tooltip(f"{label}, {name}: {fmt_number(value)}"),
                    class_=f"segment series-{s}",
                    x=x,
                    y=y + 5,
                    width=w,
                    height=row_height - 10,
                    fill=colour,
                    stroke="#fff",
                )
            )
            text = fmt_number(value)
            if w > len(text) * CHAR_WIDTH + 8:
                body.append(
                    _text(
                        x + w / 2,
                        y + row_height / 2 + 4,
                        text,
                        class_=f"segment-value series-{s}",
                        text_anchor="middle",
                        fill="#fff",
                    )
                )
            x += w
        body.append(_text(x + 6, y + row_height / 2 + 4, fmt_number(totals[i]), class_="value"))
    # The legend: a swatch and the name of each series, left to right.
    x = left
    for s, name in enumerate(series):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        body.append(
            _element(
                "rect",
                class_=f"swatch series-{s}",
                x=x,
                y=legend_y - 10,
                width=12,
                height=12,
                fill=colour,
                stroke=AXIS_COLOUR,
            )
        )
        body.append(_text(x + 16, legend_y, name, class_="legend"))
        x += 16 + len(name) * CHAR_WIDTH + 18
    body.append(
        _text(left + plot_w / 2, height - 6, x_label, class_="axis-label", text_anchor="middle")
    )
    return _svg(
        chart_id=chart_id, title=title, summary=summary, width=width, height=height, body=body
    )
