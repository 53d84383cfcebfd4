"""Formatting of the Analytics pages' figures: rates as percentages, durations in words."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.4167 -> '41.7%'; no rate (nothing to divide by) -> '–'."""
    return "–" if value is None else f"{value * 100:.1f}%"


@register.filter
def duration(value: timedelta | None) -> str:
    """A time span as a person says it: '45 min', '5 h 20 min', '3 d 4 h'."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"
