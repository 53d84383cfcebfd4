"""Two clocks: the site's, for business days, and each staff member's, for reading times.

A business day is the site's (`TIME_ZONE`): a code valid until 30 June is valid until the
end of 30 June there, a quota "per day" counts the site's day, analytics count the site's
days. Those rules read `site_today()` and `site_zone()`, never the active time zone.

The times a person reads and types are theirs: a signed-in user may choose a time zone
(`UserPreference`), and `UserTimeZoneMiddleware` activates it for their requests, so
Django renders every timestamp and reads every date-and-time field in it on the staff
pages (`/staff/`, `/admin/`). Every other request (the public pages, the API, whoever is
signed in) and Celery tasks stay on the site's zone.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time
from functools import cache

from django.http import HttpRequest
from django.utils import timezone

# The session remembers the zone so a request costs no query: "" is "the site's zone".
SESSION_KEY = "_time_zone"


def site_zone() -> zoneinfo.ZoneInfo:
    return timezone.get_default_timezone()


def site_today() -> date:
    """Today in the site's time zone: the business day every date rule counts in."""
    return timezone.localdate(timezone=site_zone())


def site_date(value: datetime) -> date:
    """The site's calendar day of an aware datetime."""
    return timezone.localdate(value, timezone=site_zone())


def start_of_site_day(day: date) -> datetime:
    """The aware instant the site's day `day` begins."""
    return datetime.combine(day, time.min, tzinfo=site_zone())


def zone_header(label: str) -> str:
    """A CSV column of times, which are written in the site's zone (as the file's days, and
    the same for every reader): named with it for a reader in another zone, who would
    otherwise take them for theirs, as on the pages: "Created At (Europe/Berlin)"."""
    site = site_zone().key
    return label if timezone.get_current_timezone_name() == site else f"{label} ({site})"


def zone_phrase() -> str:
    """How a form names the zone its times are read in: "Europe/Paris, your time zone"."""
    name = timezone.get_current_timezone_name()
    whose = "the site's" if name == site_zone().key else "your"
    return f"{name}, {whose} time zone"


@cache
def _known_zones() -> frozenset[str]:
    """Every zone name this machine knows, legacy aliases too (read once: it walks files)."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted, without the legacy aliases."""
    names = {
        name
        for name in _known_zones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
    }
    return tuple(sorted(names | {"UTC"}))


def is_zone(name: str) -> bool:
    return name in _known_zones()


def user_zone(request: HttpRequest) -> str:
    """The zone the signed-in user chose, or "" for the site's (cached in the session)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    name = request.session.get(SESSION_KEY)
    if name is None:
        from core.models import UserPreference

        name = (
            UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first()
            or ""
        )
        request.session[SESSION_KEY] = name
    return name if name and is_zone(name) else ""


# Where staff pages live (config/urls.py): the only requests a user's zone applies to.
# Everything else (public pages, the API, whoever is signed in) stays on the site's zone.
STAFF_PATH_PREFIXES = ("/staff/", "/admin/")


class UserTimeZoneMiddleware:
    """Show and read times in the signed-in user's time zone on the staff pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        # A staff member signed in and opening a public page, or calling the API with their
        # session, sees what the public and API clients see: the API would otherwise read
        # naive times in the user's zone and the public pages name another zone. Checked
        # first, so a public request never loads the session or the user for it.
        staff = request.path_info.startswith(STAFF_PATH_PREFIXES)
        name = user_zone(request) if staff else ""
        if name:
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
