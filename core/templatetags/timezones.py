"""Template tags about the two clocks (core.timezones)."""

from django import template
from django.utils import timezone

from core.timezones import site_zone

register = template.Library()


@register.simple_tag
def site_days_note() -> str:
    """For a reader in another zone than the site's: which zone date filters count days in."""
    site = site_zone().key
    if timezone.get_current_timezone_name() == site:
        return ""
    return f"Days in {site}, the site's time zone"
