"""Writes that belong to no domain: a user's own preferences."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from core.models import UserPreference
from core.timezones import is_zone


@transaction.atomic
def set_time_zone(*, actor, user, time_zone: str) -> UserPreference:
    """Choose the zone `user` reads and types times in; "" goes back to the site's."""
    time_zone = time_zone.strip()
    if time_zone and not is_zone(time_zone):
        raise ValidationError(
            {"time_zone": f"“{time_zone}” is not a time zone. Choose one from the list."}
        )
    if actor is not None and actor.pk != user.pk and not actor.is_superuser:
        raise ValidationError("Only the user or a superuser can change their time zone.")
    preference, _ = UserPreference.objects.update_or_create(
        user=user, defaults={"time_zone": time_zone}
    )
    return preference
