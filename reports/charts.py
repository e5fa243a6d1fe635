"""Charts drawn on the server as SVG geometry (no script, no CDN): the
template draws the shapes and carries the same numbers as a table."""

from __future__ import annotations

from dataclasses import dataclass

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
