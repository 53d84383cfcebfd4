"""Signed outbound webhooks: queue an event for endpoints, deliver it, retry with backoff.

Every request carries `Voucherdesk-Signature: t=<unix time>,v1=<hex>`, where v1 is
HMAC-SHA256 with the endpoint's secret over "<t>.<body>" (docs/webhooks.md shows a
receiver checking it). A delivery is attempted at once, then again after 30 s, 1, 2, 4 …
minutes (WEBHOOK_RETRY_BASE doubled each time) until WEBHOOK_MAX_ATTEMPTS; then it is
marked failed and kept, so staff can look at it and resend it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from urllib import error, request

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import DomainError
from core.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from core.netguard import public_only

SIGNATURE_HEADER = "Voucherdesk-Signature"
USER_AGENT = "Voucherdesk-Webhooks/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signature_valid(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver checks: a v1 signature matches and the timestamp is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def webhook_event_send(
    *, endpoints: Iterable[WebhookEndpoint], event: str, data: dict
) -> list[WebhookDelivery]:
    """Queue `event` for every endpoint that wants it; each is sent after the caller commits."""
    now = timezone.now()
    deliveries = []
    for endpoint in endpoints:
        if not endpoint.wants(event):
            continue
        event_id = f"evt_{uuid.uuid4().hex}"
        deliveries.append(
            WebhookDelivery(
                endpoint=endpoint,
                event=event,
                event_id=event_id,
                payload={"id": event_id, "type": event, "created": now.isoformat(), "data": data},
                next_attempt_at=now,
            )
        )
    # PostgreSQL and SQLite both return the new primary keys from a bulk insert.
    for delivery in WebhookDelivery.objects.bulk_create(deliveries):
        _enqueue_on_commit(delivery.pk)
    return deliveries


def _enqueue_on_commit(delivery_id: int) -> None:
    from core.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery_id), robust=True)


def retry_delay(attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed attempt: the base, doubled each time."""
    return settings.WEBHOOK_RETRY_BASE * 2 ** (attempts - 1)


def webhook_delivery_attempt(*, delivery_id: int) -> int | None:
    """Send a due delivery once and log the attempt; return seconds until the next try, if any.

    A worker claims the delivery with one conditional UPDATE that writes its own claim
    token and a lease past the request's timeout, and counts the attempt there; it records
    the outcome only while its claim still holds. So a retry, the sweep and a Resend never
    send one attempt twice at once, and a worker that outlived its lease overwrites nobody.
    No transaction stays open while the receiver answers.
    """
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = WebhookDelivery.objects.filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True),
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
    ).update(
        claim=token,
        claimed_until=now + timedelta(seconds=settings.WEBHOOK_TIMEOUT * 2 + 30),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    status_code, problem, took = _post(delivery)
    ok = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, status_code=status_code, error=problem[:500], duration_ms=took
        )
        delay = None
        if ok:
            status, next_at = WebhookDelivery.Status.DELIVERED, None
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            status, next_at = WebhookDelivery.Status.FAILED, None
        else:
            delay = retry_delay(delivery.attempts)
            status = WebhookDelivery.Status.PENDING
            next_at = timezone.now() + timedelta(seconds=delay)
        kept = WebhookDelivery.objects.filter(pk=delivery_id, claim=token).update(
            status=status,
            next_attempt_at=next_at,
            delivered_at=timezone.now() if ok else None,
            claim="",
            claimed_until=None,
        )
    # A lost claim: another worker took the delivery over and decides what comes next.
    return delay if kept else None


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(delivery.endpoint.secret, int(time.time()), body),
        "Voucherdesk-Event": delivery.event,
        "Voucherdesk-Delivery": delivery.event_id,
    }
    started = time.monotonic()
    try:
        with public_only.open(
            request.Request(delivery.endpoint.url, data=body, headers=headers, method="POST"),
            timeout=settings.WEBHOOK_TIMEOUT,
        ) as response:
            code, problem = response.status, ""
    except error.HTTPError as exc:
        code, problem = exc.code, f"HTTP {exc.code} {exc.reason}"
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        name = type(reason).__name__
        code, problem = None, f"{name}: {reason}" if str(reason) else name
    took = int((time.monotonic() - started) * 1000)
    return code, problem, took


def webhook_delivery_resend(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (staff's Resend), whatever became of it; same event id.

    Refused while an attempt is being sent: that attempt's outcome comes first.
    """
    now = timezone.now()
    with transaction.atomic():
        queued = (
            WebhookDelivery.objects.filter(pk=delivery.pk)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at=now,
                resent_by=actor if getattr(actor, "pk", None) else None,
                resent_at=now,
            )
        )
        if not queued:
            raise DomainError("This delivery is being sent right now; look again in a moment.")
        _enqueue_on_commit(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def webhooks_retry_due(*, now=None) -> int:
    """Every minute: enqueue pending deliveries whose time has come (a lost retry, or the
    embedded mode, which runs no countdowns)."""
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now or timezone.now()
        ).values_list("pk", flat=True)[:1000]
    )
    from core.tasks import deliver_webhook

    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
