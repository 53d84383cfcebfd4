from django import template

from campaigns.alert_selectors import alert_open_count

register = template.Library()


@register.simple_tag
def open_alert_count() -> int:
    """The open alerts, for the menu's badge: read from the cache, counted once a minute."""
    return alert_open_count()
