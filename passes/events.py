"""Named constructors for pass events: every change to a pass writes one of these."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from passes.models import Pass, PassEvent

User = AbstractBaseUser | None


def passes_issued(*, batch_id: int, actor: User) -> int:
    """One 'issued' event for every pass of a batch that has none yet, set-based."""
    events, passes = PassEvent._meta.db_table, Pass._meta.db_table
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events} (pass_obj_id, type, data, actor_id, created_at) "
            f"SELECT p.id, %s, %s, %s, %s FROM {passes} p WHERE p.batch_id = %s "
            f"AND NOT EXISTS (SELECT 1 FROM {events} e WHERE e.pass_obj_id = p.id)",
            [PassEvent.Type.ISSUED, "{}", actor.pk if actor else None, now, batch_id],
        )
        return cursor.rowcount


def pass_issued(*, pass_obj: Pass, actor: User) -> PassEvent:
    return PassEvent.objects.create(pass_obj=pass_obj, type=PassEvent.Type.ISSUED, actor=actor)


def pass_redeemed(*, pass_obj: Pass, actor: User, data: dict) -> PassEvent:
    return PassEvent.objects.create(
        pass_obj=pass_obj, type=PassEvent.Type.REDEEMED, actor=actor, data=data
    )


def pin_failed(*, pass_obj: Pass, client: str) -> PassEvent:
    return PassEvent.objects.create(
        pass_obj=pass_obj, type=PassEvent.Type.PIN_FAILED, data={"client": client}
    )


def pin_reset(*, pass_obj: Pass, actor: User) -> PassEvent:
    return PassEvent.objects.create(pass_obj=pass_obj, type=PassEvent.Type.PIN_RESET, actor=actor)


def pass_changed(*, pass_obj: Pass, actor: User, type: str, before: object, after: object):
    return PassEvent.objects.create(
        pass_obj=pass_obj,
        type=type,
        actor=actor,
        data={"from": str(before) if before is not None else None, "to": str(after)},
    )


def passes_expired(*, pass_ids: list[int]) -> None:
    """One 'status changed' event (active → expired) for each pass the sweep expired."""
    now = timezone.now()
    PassEvent.objects.bulk_create(
        PassEvent(
            pass_obj_id=pk,
            type=PassEvent.Type.STATUS_CHANGED,
            data={"from": Pass.Status.ACTIVE, "to": Pass.Status.EXPIRED},
            created_at=now,
        )
        for pk in pass_ids
    )
