"""Reads of passes shared by pages, API, tasks and the PDF."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from passes.models import Pass, PassEvent, PassPlan


def existing_pass_count(*, prefix: str, width: int) -> int:
    """Passes sharing a prefix and width, counted from the printed plans' quantities and
    the electronic passes (the guess odds of a new batch)."""
    planned = (
        PassPlan.objects.filter(
            prefix=prefix, code_width=width, format=PassPlan.Format.PRINTED
        ).exclude(status=PassPlan.Status.DRAFT)
    ).aggregate(n=Sum("quantity"))["n"] or 0
    electronic = Pass.objects.filter(
        plan__prefix=prefix, plan__code_width=width, plan__format=PassPlan.Format.ELECTRONIC
    ).count()
    return planned + electronic


def pin_locked(*, pass_obj: Pass) -> bool:
    """Five wrong PINs within the lockout window lock the pass for its length."""
    from passes.services import PIN_LOCKOUT_FAILURES, PIN_LOCKOUT_MINUTES

    since = timezone.now() - timedelta(minutes=PIN_LOCKOUT_MINUTES)
    failures = PassEvent.objects.filter(
        pass_obj=pass_obj, type=PassEvent.Type.PIN_FAILED, created_at__gte=since
    ).count()
    return failures >= PIN_LOCKOUT_FAILURES


def batch_passes(*, batch_id: int):
    return (
        Pass.objects.filter(batch_id=batch_id)
        .order_by("id")
        .values_list("code", "value", "currency", "expires_on")
    )


def plan_list(*, search: str = ""):
    qs = PassPlan.objects.all()
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("-id")


def plan_passes(*, plan: PassPlan, search: str = ""):
    from core import codes as codelib

    qs = plan.passes.select_related("contact")
    normalised = codelib.normalise(search)
    if normalised:
        qs = qs.filter(code__startswith=normalised)
    return qs.order_by("-id")
