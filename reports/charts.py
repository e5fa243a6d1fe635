"""Charts drawn on the server as SVG (no script, no CDN); the page carries
the same numbers as a table. The markup is joined here rather than looped
in a template: a 90-day chart is 200 shapes, and the template engine took
most of the dashboard's time drawing them."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 960
HEIGHT = 200
LEFT = 36  # room for the scale
BOTTOM = 22  # room for the dates


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


def _nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value`."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= value:
                return step * top
        top *= 10


def volume_chart(days) -> dict:
    """Created and solved per day as pairs of bars, with a scale of three
    lines and a date under every seventh day."""
    plot_width = WIDTH - LEFT
    plot_height = HEIGHT - BOTTOM
    top = _nice_top(max([d.created for d in days] + [d.solved for d in days] + [1]))
    slot = plot_width / max(len(days), 1)
    bar = max(slot * 0.38, 1)
    created, solved, dates = [], [], []
    for i, day in enumerate(days):
        x = LEFT + i * slot + slot * 0.1
        for value, series, offset in ((day.created, created, 0), (day.solved, solved, bar)):
            height = plot_height * value / top
            series.append(
                Bar(
                    x=round(x + offset, 1),
                    y=round(plot_height - height, 1),
                    width=round(bar, 1),
                    height=round(height, 1),
                    value=value,
                    label=day.day.strftime("%-d %b"),
                )
            )
        if (len(days) - 1 - i) % 7 == 0:
            dates.append({"x": round(x + bar, 1), "label": day.day.strftime("%-d %b")})
    scale = [
        {"y": round(plot_height - plot_height * part, 1), "value": int(top * part)}
        for part in (0, 0.5, 1)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "plot_height": plot_height,
        "created": created,
        "solved": solved,
        "dates": dates,
        "scale": scale,
        "top": top,
    }


def volume_svg(chart: dict, *, labelled_by: str) -> SafeString:
    """`volume_chart`'s geometry as one <svg> (an image named by the
    element `labelled_by`; each bar has a tooltip with its number)."""
    left, width, height = chart["left"], chart["width"], chart["height"]
    parts = [
        f'<svg viewBox="0 -10 {width} {height + 10}" role="img" '
        f'aria-labelledby="{escape(labelled_by)}" focusable="false">'
    ]
    for line in chart["scale"]:
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width}" y1="{line["y"]}" y2="{line["y"]}"></line>'
            f'<text class="scale" x="{left - 4}" y="{line["y"]}" text-anchor="end" '
            f'dominant-baseline="middle">{line["value"]}</text>'
        )
    for series, css, verb in (
        (chart["created"], "bar-created", "created"),
        (chart["solved"], "bar-solved", "solved"),
    ):
        for bar in series:
            parts.append(
                f'<rect class="{css}" x="{bar.x}" y="{bar.y}" width="{bar.width}" '
                f'height="{bar.height}"><title>{escape(bar.label)}: {bar.value} {verb}</title></rect>'
            )
    dates = chart["dates"]
    for i, date in enumerate(dates):
        anchor = "end" if i == len(dates) - 1 else "middle"
        parts.append(
            f'<text class="scale" x="{date["x"]}" y="{height - 4}" '
            f'text-anchor="{anchor}">{escape(date["label"])}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is a number or escaped


def table_rows(days) -> SafeString:
    """The chart's numbers as table rows, newest day first."""
    rows = [
        f'<tr><th scope="row"><time datetime="{day.day.isoformat()}">'
        f"{day.day.strftime('%a %-d %b')}</time></th><td>{day.created}</td><td>{day.solved}</td></tr>"
        for day in reversed(days)
    ]
    return mark_safe("".join(rows))  # noqa: S308 - dates and numbers only
