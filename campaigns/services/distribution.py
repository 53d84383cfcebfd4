"""Getting codes to people: message templates, distributions, sending, resending, opting out.

A distribution is written whole when staff confirm it: one Message row per participant and
code, queued or skipped with its reason, inserted set-based. A unique index (one
non-skipped message per code, person and channel) makes "never the same code to the same
person twice" a fact of the database: a message that would repeat one is skipped as
"Already sent", whoever got there first.

Sending runs in a Celery task per distribution, a chunk at a time over one email
connection (or one SMS backend). Each chunk's rows are locked (SKIP LOCKED, so two workers
on one distribution share it out) and marked with conditional UPDATEs, queued → sent or
queued → failed, so a retried or repeated task never sends a sent message again. A
message whose sending fails is marked failed with the reason and the rest go on; failed
messages can be queued again (Resend failed). The only repeat possible is the one no
protocol avoids: a worker dying after the mail server took a chunk and before its commit
resends that chunk (at most CHUNK_SIZE messages) when the task is redelivered.
"""

from __future__ import annotations

import logging
import re
import smtplib
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Now, Replace
from django.urls import reverse
from django.utils import timezone

from campaigns import selectors, templating
from campaigns.models import (
    Channel,
    Distribution,
    Message,
    MessageTemplate,
    Purpose,
    ReminderRule,
    Wave,
)
from contracts.models import Contract, Participant
from core.errors import DomainError
from core.locks import advisory_xact_lock
from core.notifications import SEPARATOR_CHARS, SMSError, e164, get_sms_backend
from core.timezones import site_today

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None

# Messages sent per locked chunk (fewer when the rate limit allows fewer per second).
CHUNK_SIZE = 100
# Rows per INSERT when a distribution's messages are written.
INSERT_BATCH = 2_000
# A queued send with no time set is started at once; one still queued after this long
# lost its task (a broker that was down) and the minute job starts it again.
LOST_AFTER_SECONDS = 600
_UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
# time.sleep, named so that tests can count the pauses of the rate limit.
_sleep = time.sleep


# --- templates -------------------------------------------------------------------------


def _clean_template(*, channel: str, name: str, subject: str, body: str) -> dict:
    if channel not in Channel.values:
        raise ValidationError({"channel": "Choose email or SMS."})
    name, subject, body = name.strip(), " ".join(subject.split()), body.strip()
    errors = {}
    if not name:
        errors["name"] = "Give the template a name."
    if channel == Channel.EMAIL and not subject:
        errors["subject"] = "An email needs a subject."
    if not body:
        errors["body"] = "Write the message."
    try:
        templating.check_template(channel=channel, subject=subject, body=body)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, messages)
    if errors:
        raise ValidationError(errors)
    if channel == Channel.SMS:
        subject = ""  # a text message has none
    return {"name": name, "channel": channel, "subject": subject, "body": body}


def _save_template(template: MessageTemplate, fields: list[str] | None = None) -> None:
    taken = f"The contract already has a template called “{template.name}”."
    if (
        MessageTemplate.objects.filter(contract_id=template.contract_id, name=template.name)
        .exclude(pk=template.pk)
        .exists()
    ):
        raise ValidationError({"name": taken})
    try:
        with transaction.atomic():
            template.save(update_fields=fields)
    except IntegrityError as exc:  # the same name saved at the same moment
        raise ValidationError({"name": taken}) from exc


@transaction.atomic
def template_create(
    *, actor: User, contract: Contract, name: str, channel: str, subject: str = "", body: str
) -> MessageTemplate:
    """A contract's new message template; unknown placeholders are refused by name."""
    template = MessageTemplate(
        contract=contract,
        **_clean_template(channel=channel, name=name, subject=subject, body=body),
    )
    _save_template(template)
    return template


@transaction.atomic
def template_update(
    *,
    actor: User,
    template: MessageTemplate,
    name: str,
    channel: str,
    subject: str = "",
    body: str,
) -> MessageTemplate:
    """Change a template. Sends already made keep what they sent; queued or scheduled ones
    send the new text.

    The channel cannot change while a send of the template still has messages queued:
    they are addressed for the old channel (an email address, a phone number), and the new
    text may hold what that channel cannot carry ({qr} in a text message), which would
    leave the send stuck. Once those sends are done or cancelled, it can.
    """
    cleaned = _clean_template(channel=channel, name=name, subject=subject, body=body)
    if cleaned["channel"] != template.channel and (
        Message.objects.filter(distribution__template=template, status=Message.Status.QUEUED)
        .exclude(distribution__status=Distribution.Status.CANCELLED)
        .exists()
    ):
        by = "text message" if template.channel == Channel.SMS else "email"
        raise ValidationError(
            {
                "channel": f"A send of this template is waiting (scheduled or sending) by {by}: "
                "cancel it or let it finish before changing the channel."
            }
        )
    for field, value in cleaned.items():
        setattr(template, field, value)
    _save_template(template, ["name", "channel", "subject", "body", "updated_at"])
    return template


def template_test_send(
    *, actor: AbstractBaseUser, template: MessageTemplate, to: str = "", real_data: bool = True
) -> str:
    """Send the template once to the staff member asking: an email to their own address,
    an SMS to the number they give. With `real_data` it shows the contract's first
    participant holding a code (nothing is recorded for them), else sample values.
    Returns the address it went to."""
    compiled = templating.compile_template(
        channel=template.channel, subject=template.subject, body=template.body
    )
    if real_data:
        values, _ = selectors.preview_values(contract=template.contract)
    else:
        values = {**templating.SAMPLE, "contract": template.contract.name}
    if template.channel == Channel.EMAIL:
        address = (actor.email or "").strip()
        if not address:
            raise DomainError("Your account has no email address: add one to receive tests.")
        rendered = compiled.render(values, footer="Test message: no participant received it.")
        email = _email(rendered, to=address, unsubscribe_url="")
        email.subject = f"[Test] {email.subject}"
        try:
            email.send()
        except Exception as exc:  # a server down or refusing: said on the page, not a 500
            logger.warning("Test email to %s failed", address, exc_info=True)
            raise DomainError(f"The test email was not sent: {_reason(exc)}") from exc
        return address
    number = e164(to)
    if not number:
        raise ValidationError(
            {"to": "Enter your mobile number in international format, like +447700900123."}
        )
    try:
        get_sms_backend().send_sms(number, compiled.text(values))
    except SMSError as exc:
        raise DomainError(f"The test message was not sent: {exc}") from exc
    return number


# --- creating a distribution -----------------------------------------------------------


def distribution_create(
    *,
    actor: User,
    contract: Contract,
    template: MessageTemplate,
    participant_ids: Iterable[int] | None = None,
    code_ids: Iterable[int] | None = None,
    send_at: datetime | None = None,
    purpose: str = Purpose.CODE,
    reminder_rule: ReminderRule | None = None,
    wave: Wave | None = None,
) -> Distribution:
    """Send `template`'s message to participants, now or at `send_at`.

    `purpose` is CODE for a send of codes, REMINDER for the reminder job's (each purpose
    reaches a code's holder once by a channel).

    Recipients: the participants named, or the codes named, or (neither given) every
    participant holding an unused code; see `selectors.distribution_plan` for who is
    skipped and why. The messages are written at once, set-based; sending starts after
    the commit, or at `send_at` (the minute job starts it then). A time in the past is
    refused, and so is a send that would reach nobody.
    """
    if template.contract_id != contract.pk:
        raise DomainError("This template belongs to another contract.")
    if send_at is not None and send_at <= timezone.now():
        raise ValidationError({"send_at": "This time has passed: choose a later one, or none."})
    try:
        templating.check_template(
            channel=template.channel, subject=template.subject, body=template.body
        )
    except ValidationError as exc:
        raise DomainError(
            f"The template “{template.name}” cannot be sent: "
            + " ".join(m for ms in exc.message_dict.values() for m in ms)
        ) from exc
    channel = template.channel
    with transaction.atomic():
        # One send of a contract is planned at a time, so two planned together cannot
        # both count the same code as new; the unique index would still catch it.
        advisory_xact_lock(f"distribution:{contract.pk}")
        plan = selectors.distribution_plan(
            contract=contract,
            channel=channel,
            participant_ids=participant_ids,
            code_ids=code_ids,
            purpose=purpose,
        )
        if not plan.sending:
            why = "; ".join(f"{reason}: {n:,}" for reason, n in plan.reasons)
            raise DomainError(
                "Nobody would get a message"
                + (f" (skipped — {why})." if why else ": no participant holds an unused code.")
            )
        distribution = Distribution.objects.create(
            contract=contract,
            template=template,
            channel=channel,
            send_at=send_at,
            purpose=purpose,
            reminder_rule=reminder_rule,
            wave=wave,
            total=plan.total,
            skipped=plan.skipped,
            created_by=actor,
        )
        lost = _insert_messages(distribution, plan.recipients)
        if lost:
            Distribution.objects.filter(pk=distribution.pk).update(skipped=F("skipped") + lost)
            distribution.skipped += lost
        if send_at is None:
            _enqueue_on_commit(distribution.pk)
    return distribution


def _message(distribution: Distribution, recipient: selectors.Recipient, now) -> Message:
    return Message(
        distribution_id=distribution.pk,
        contract_id=distribution.contract_id,
        participant_id=recipient.participant_id,
        code_id=recipient.code_id,
        channel=distribution.channel,
        purpose=distribution.purpose,
        to=recipient.to[:254],
        status=Message.Status.SKIPPED if recipient.reason else Message.Status.QUEUED,
        reason=recipient.reason[:300],
        created_at=now,
    )


def _insert_messages(distribution: Distribution, recipients: list[selectors.Recipient]) -> int:
    """Insert the plan's rows; a queued row the unique index refuses (the same code sent to
    the same person meanwhile) is written as skipped, "Already sent". Returns how many."""
    if connection.vendor == "postgresql":
        return _insert_messages_postgresql(distribution, recipients)
    now = timezone.now()
    for start in range(0, len(recipients), INSERT_BATCH):
        Message.objects.bulk_create(
            [_message(distribution, r, now) for r in recipients[start : start + INSERT_BATCH]],
            ignore_conflicts=True,
        )
    stored = distribution.messages.count()
    if stored == len(recipients):
        return 0
    have = set(
        distribution.messages.exclude(status=Message.Status.SKIPPED).values_list(
            "code_id", "participant_id"
        )
    )
    refused = [
        selectors.Recipient(r.participant_id, r.code_id, r.to, selectors.ALREADY_SENT)
        for r in recipients
        if not r.reason and (r.code_id, r.participant_id) not in have
    ]
    Message.objects.bulk_create([_message(distribution, r, now) for r in refused])
    return len(refused)


def _insert_messages_postgresql(
    distribution: Distribution, recipients: list[selectors.Recipient]
) -> int:
    """The same, set-based in PostgreSQL: COPY the rows into a temporary table, insert them
    with ON CONFLICT DO NOTHING, then insert what the index refused as skipped. Building
    a model instance per row took three quarters of the time of 100,000."""
    table = Message._meta.db_table
    columns = (
        'distribution_id, contract_id, participant_id, code_id, channel, purpose, "to", status, '
        "reason, attempts, created_at"
    )
    constants = [
        distribution.pk,
        distribution.contract_id,
        distribution.channel,
        distribution.purpose,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE new_messages (participant_id bigint, code_id bigint, "
            '"to" varchar(254), reason varchar(300)) ON COMMIT DROP'
        )
        with cursor.cursor.copy(
            'COPY new_messages (participant_id, code_id, "to", reason) FROM STDIN'
        ) as copy:
            for r in recipients:
                copy.write_row((r.participant_id, r.code_id, r.to[:254], r.reason[:300]))
        status = "CASE WHEN reason = '' THEN %s ELSE %s END"
        cursor.execute(
            f"""
            INSERT INTO {table} ({columns})
            SELECT %s, %s, participant_id, code_id, %s, %s, "to", {status}, reason, 0, now()
            FROM new_messages ORDER BY code_id
            ON CONFLICT DO NOTHING
            """,
            [*constants, Message.Status.QUEUED, Message.Status.SKIPPED],
        )
        lost = len(recipients) - cursor.rowcount
        if lost:
            cursor.execute(
                f"""
                INSERT INTO {table} ({columns})
                SELECT %s, %s, n.participant_id, n.code_id, %s, %s, n."to", %s, %s, 0, now()
                FROM new_messages n
                WHERE n.reason = '' AND NOT EXISTS (
                    SELECT 1 FROM {table} m WHERE m.distribution_id = %s
                    AND m.code_id = n.code_id AND m.participant_id = n.participant_id
                )
                """,
                [
                    *constants,
                    Message.Status.SKIPPED,
                    selectors.ALREADY_SENT,
                    distribution.pk,
                ],
            )
        cursor.execute("DROP TABLE new_messages")
    return lost


def _enqueue_on_commit(distribution_id: int) -> None:
    """Start sending once the messages are committed. A broker that refuses leaves the send
    queued; the minute job starts it later (LOST_AFTER_SECONDS)."""
    from campaigns.tasks import send_distribution

    def enqueue() -> None:
        try:
            send_distribution.delay(distribution_id)
        except Exception:
            logger.exception("Could not start sending distribution %s", distribution_id)

    transaction.on_commit(enqueue)


# --- sending ---------------------------------------------------------------------------


def _unsubscribe_signer() -> signing.Signer:
    # A plain signed id ("123:…"): an HMAC per message, no JSON or compression.
    return signing.Signer(salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(participant_id: int) -> str:
    return _unsubscribe_signer().sign(str(participant_id))


def _unsubscribe_head() -> str:
    """The unsubscribe link up to its token: reverse() once per send, not per message."""
    path = reverse("campaigns_public:unsubscribe", args=["TOKEN"])
    return f"{settings.SITE_URL}{path.removesuffix('TOKEN/')}"


def unsubscribe_url(participant_id: int) -> str:
    return f"{_unsubscribe_head()}{unsubscribe_token(participant_id)}/"


def unsubscribe_reader(token: str) -> int | None:
    """The participant an unsubscribe link names, or None when it was altered. It does not
    expire: an old email's link must still work."""
    try:
        return int(_unsubscribe_signer().unsign(token))
    except (signing.BadSignature, ValueError, TypeError):
        return None


def _email(rendered: templating.Rendered, *, to: str, unsubscribe_url: str):
    headers = {}
    if unsubscribe_url:
        # RFC 2369 and RFC 8058: mail programs show an Unsubscribe button that POSTs
        # "List-Unsubscribe=One-Click" to the link, with no page in between.
        headers = {
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    email = EmailMultiAlternatives(
        subject=rendered.subject, body=rendered.text, to=[to], headers=headers
    )
    if rendered.html:
        from email.mime.image import MIMEImage

        email.attach_alternative(rendered.html, "text/html")
        image = MIMEImage(rendered.qr_png, "png")
        image.add_header("Content-ID", f"<{rendered.qr_cid}>")
        image.add_header("Content-Disposition", "inline", filename="qr.png")
        email.attach(image)
        # multipart/related around the alternatives and the image: the HTML's cid: finds it.
        email.mixed_subtype = "related"
    return email


class _EmailSender:
    """One SMTP (or other backend) connection for the whole send, reopened after a failure
    so that one refused message does not leave the rest on a broken connection."""

    def __init__(self) -> None:
        self.connection = get_connection(fail_silently=False)
        self.connection.open()  # a server that is down fails the task here: it is retried

    def send(self, message: EmailMultiAlternatives) -> None:
        try:
            if not self.connection.send_messages([message]):
                raise OSError("The mail server did not accept the message.")
        except Exception:
            self._reopen()
            raise

    def _reopen(self) -> None:
        try:
            self.connection.close()
            self.connection.open()
        except Exception:  # the next message opens its own connection if it can
            logger.warning("Reopening the email connection failed", exc_info=True)

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:
            logger.warning("Closing the email connection failed", exc_info=True)


class _SmsSender:
    def __init__(self) -> None:
        self.backend = get_sms_backend()

    def send(self, to: str, body: str) -> None:
        self.backend.send_sms(to, body)

    def close(self) -> None:
        """An SMS backend holds no connection: nothing to close."""


def _reason(exc: Exception) -> str:
    """What went wrong, for the staff page: the mail server's or SMS backend's own words."""
    if isinstance(exc, SMSError):
        text = str(exc)
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = [
            f"{code} {message.decode(errors='replace') if isinstance(message, bytes) else message}"
            for code, message in exc.recipients.values()
        ]
        text = "The mail server refused the address: " + "; ".join(answers)
    elif isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        error = error.decode(errors="replace") if isinstance(error, bytes) else error
        text = f"The mail server answered {exc.smtp_code} {error}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:300]


def _chunk_size() -> int:
    rate = settings.CAMPAIGN_SEND_RATE
    return max(1, min(CHUNK_SIZE, int(rate))) if rate else CHUNK_SIZE


def distribution_send(*, distribution_id: int) -> Distribution:
    """Send a distribution's queued messages; safe to run again, and by two workers at once.

    Paced at CAMPAIGN_SEND_RATE messages per second (a pause between chunks; 0: none).
    Ends the distribution (done) once nothing is queued.
    """
    distribution = Distribution.objects.select_related("template", "contract").get(
        pk=distribution_id
    )
    if distribution.status == Distribution.Status.CANCELLED:
        return distribution
    if distribution.status == Distribution.Status.DONE and not (
        distribution.messages.filter(status=Message.Status.QUEUED).exists()
    ):
        return distribution
    if (
        distribution.status == Distribution.Status.QUEUED
        and distribution.send_at
        and distribution.send_at > timezone.now()
    ):
        return distribution  # not yet: the minute job starts it (claims it) on time
    template = distribution.template
    compiled = templating.compile_template(
        channel=distribution.channel, subject=template.subject, body=template.body
    )
    sender = _EmailSender() if distribution.channel == Channel.EMAIL else _SmsSender()
    try:
        Distribution.objects.filter(
            pk=distribution.pk, status__in=[Distribution.Status.QUEUED, Distribution.Status.DONE]
        ).update(status=Distribution.Status.SENDING, finished_at=None, active_at=Now())
        values = selectors.ValueMaker(distribution.contract)
        links = _Unsubscribe()
        size = _chunk_size()
        rate = settings.CAMPAIGN_SEND_RATE
        previous: tuple[float, int] | None = None
        while True:
            if rate and previous:
                started, count = previous
                _sleep_until(started + count / rate)
            started = time.monotonic()
            count = _send_chunk(distribution, compiled, values, links, sender, size)
            Distribution.objects.filter(pk=distribution.pk).update(active_at=Now())
            if count < size:  # the queue ran out (rows another worker holds are its own)
                break
            previous = (started, count)
    finally:
        sender.close()
    _finish(distribution.pk)
    distribution.refresh_from_db()
    return distribution


def _sleep_until(moment: float) -> None:
    wait = moment - time.monotonic()
    if wait > 0:
        _sleep(wait)


_MESSAGE_FIELDS = (
    "pk",
    "participant_id",
    "to",
    "participant__first_name",
    "participant__last_name",
    "code__code",
    "code__label",
    "code__price_id",
    "code__valid_until",
    "participant__opted_out_at",
    "code__is_archived",
    "code__status",
    "code__uses",
    "code__max_uses",
    "code__valid_from",
)


class _Unsubscribe:
    """Each participant's unsubscribe link, with what is the same for all made once."""

    def __init__(self) -> None:
        self.head = _unsubscribe_head()
        self.signer = _unsubscribe_signer()

    def url(self, participant_id: int) -> str:
        return f"{self.head}{self.signer.sign(str(participant_id))}/"


def _send_chunk(distribution, compiled, values, links, sender, size: int) -> int:
    """Lock up to `size` queued messages, send them, mark each sent or failed; how many."""
    with transaction.atomic():
        rows = list(
            Message.objects.filter(distribution=distribution, status=Message.Status.QUEUED)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .values_list(*_MESSAGE_FIELDS)[:size]
        )
        if not rows:
            return 0
        sent, failed, opted_out, unusable = [], [], [], []
        today = site_today()  # the site's day, as when the send was planned
        for row in rows:
            pk, participant_id, to, first, last, code, label, price_id, valid_until, out = row[:10]
            if out:  # unsubscribed after the send was confirmed
                opted_out.append(pk)
                continue
            # A code archived, revoked, used or expired since the send was planned (a
            # scheduled send, a resend) is no longer worth a message.
            archived, status, uses, max_uses, valid_from = row[10:]
            why = selectors.code_skip_reason(
                is_archived=archived,
                status=status,
                uses=uses,
                max_uses=max_uses,
                valid_from=valid_from,
                valid_until=valid_until,
                today=today,
            )
            if why:
                unusable.append((pk, why))
                continue
            # Everything about one message inside its try: an error escaping the loop would
            # roll back the marks of the messages already sent in this chunk (they would go
            # out again) and leave the chunk queued until the stuck-send pickup.
            try:
                filled = values.values(
                    first_name=first,
                    last_name=last,
                    code=label or code,
                    price_id=price_id,
                    valid_until=valid_until,
                )
                if distribution.channel == Channel.EMAIL:
                    leave = links.url(participant_id)
                    rendered = compiled.render(
                        filled,
                        qr_cid=f"qr.{pk}@voucherdesk",
                        footer=f"To stop receiving these messages: {leave}",
                    )
                    sender.send(_email(rendered, to=to, unsubscribe_url=leave))
                else:
                    sender.send(to, compiled.text(filled))
            except Exception as exc:
                logger.warning("Message %s to %s failed: %s", pk, to, exc)
                failed.append((pk, _reason(exc)))
            else:
                sent.append(pk)
        now = timezone.now()
        queued = Message.objects.filter(status=Message.Status.QUEUED)
        if sent:
            queued.filter(pk__in=sent).update(
                status=Message.Status.SENT, sent_at=now, reason="", attempts=F("attempts") + 1
            )
        for pk, reason in failed:
            queued.filter(pk=pk).update(
                status=Message.Status.FAILED, reason=reason, attempts=F("attempts") + 1
            )
        skipped = 0
        if opted_out:
            skipped += queued.filter(pk__in=opted_out).update(
                status=Message.Status.SKIPPED, reason=selectors.OPTED_OUT
            )
        for pk, reason in unusable:
            skipped += queued.filter(pk=pk).update(status=Message.Status.SKIPPED, reason=reason)
        if skipped:
            Distribution.objects.filter(pk=distribution.pk).update(skipped=F("skipped") + skipped)
    return len(rows)


def _finish(distribution_id: int) -> None:
    """Done once nothing is queued (another worker may still hold a chunk: it finishes)."""
    queued = Message.objects.filter(distribution_id=distribution_id, status=Message.Status.QUEUED)
    Distribution.objects.filter(pk=distribution_id, status=Distribution.Status.SENDING).exclude(
        Q(pk__in=queued.values("distribution_id"))
    ).update(status=Distribution.Status.DONE, finished_at=timezone.now())


@transaction.atomic
def distribution_resend(*, actor: User, distribution: Distribution) -> int:
    """Queue a distribution's failed messages again and start sending; how many.

    Only failed ones: a sent message stays sent, so nobody gets the same code twice.
    Refused while a worker is at the send: a second one would double its send rate; once
    it ends (or shows no sign of life for LOST_AFTER_SECONDS), the failed ones can go.
    """
    # Locked, so the minute job's claim of a stuck send and this one come one after the other.
    current = Distribution.objects.select_for_update().get(pk=distribution.pk)
    if current.status == Distribution.Status.CANCELLED:
        raise DomainError("This send was cancelled: start a new one to send these codes.")
    lost = timezone.now() - timedelta(seconds=LOST_AFTER_SECONDS)
    if current.status == Distribution.Status.SENDING and current.active_at > lost:
        raise DomainError(
            "This send is still going: send its failed messages again once it has ended."
        )
    again = Message.objects.filter(distribution=distribution, status=Message.Status.FAILED).update(
        status=Message.Status.QUEUED
    )
    if not again:
        raise DomainError("No failed message to send again.")
    Distribution.objects.filter(pk=distribution.pk).update(
        status=Distribution.Status.QUEUED, finished_at=None, active_at=Now()
    )
    if current.send_at is None or current.send_at <= timezone.now():
        _enqueue_on_commit(distribution.pk)
    distribution.refresh_from_db()
    return again


SEND_CANCELLED = "Send cancelled"


@transaction.atomic
def distribution_cancel(*, actor: User, distribution: Distribution) -> Distribution:
    """Cancel a send that has not started (a scheduled one, say). Its queued messages are
    kept as skipped, "Send cancelled", so their codes can be sent again later."""
    cancelled = Distribution.objects.filter(
        pk=distribution.pk, status=Distribution.Status.QUEUED
    ).update(status=Distribution.Status.CANCELLED, finished_at=timezone.now())
    if not cancelled:
        raise DomainError("This send has started or ended: it can no longer be cancelled.")
    dropped = Message.objects.filter(
        distribution=distribution, status=Message.Status.QUEUED
    ).update(status=Message.Status.SKIPPED, reason=SEND_CANCELLED)
    Distribution.objects.filter(pk=distribution.pk).update(skipped=F("skipped") + dropped)
    distribution.refresh_from_db()
    return distribution


def distributions_start_due(*, now: datetime | None = None) -> int:
    """Every minute: start scheduled sends whose time has come (and a send whose task was
    lost). Claimed with a conditional UPDATE, so two beats start each once."""
    now = now or timezone.now()
    lost = now - timedelta(seconds=LOST_AFTER_SECONDS)
    # Queued with no task of its own: a scheduled send not queued since its time came, or
    # any send queued (created, resent) with no sign of life since. A resent scheduled
    # send has its task (active_at after send_at): it is not started a second time.
    due = list(
        Distribution.objects.filter(status=Distribution.Status.QUEUED)
        .filter(
            Q(send_at__lte=now, active_at__lte=F("send_at"))
            | (Q(send_at__isnull=True) | Q(send_at__lte=now)) & Q(active_at__lte=lost)
        )
        .values_list("pk", flat=True)[:100]
    )
    started = 0
    for pk in due:
        with transaction.atomic():
            claimed = Distribution.objects.filter(pk=pk, status=Distribution.Status.QUEUED).update(
                status=Distribution.Status.SENDING, active_at=now
            )
            if claimed:
                started += 1
                _enqueue_on_commit(pk)
    # A send whose task gave up (its retries spent while the mail server was down) or was
    # never handed to the broker: queued messages, no sign of life for a while (a worker
    # stamps active_at after each chunk, sent or failed). Claimed by stamping it, so each
    # beat takes it up once; sending again only takes what is still queued, row by row
    # under SKIP LOCKED.
    stuck = list(
        Distribution.objects.filter(status=Distribution.Status.SENDING, active_at__lte=lost)
        .filter(
            Exists(
                Message.objects.filter(distribution=OuterRef("pk"), status=Message.Status.QUEUED)
            )
        )
        .exclude(pk__in=due)
        .values_list("pk", flat=True)[:100]
    )
    for pk in stuck:
        with transaction.atomic():
            if Distribution.objects.filter(pk=pk, active_at__lte=lost).update(active_at=now):
                started += 1
                _enqueue_on_commit(pk)
    return started


# --- opting out ------------------------------------------------------------------------


# What a person texts back to stop text messages (the carriers' standard words).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})


# A reply's first word: its first letters, after any spaces or punctuation ("«Stop,…").
_FIRST_WORD = re.compile(r"[\W_]*([^\W\d_]+)")


def is_stop_message(text: str) -> bool:
    """Whether a reply asks to stop: its first word is a stop word, in any case, whatever
    punctuation follows it ("Stop, please", "STOP!!")."""
    first = _FIRST_WORD.match(text or "")
    return first is not None and first.group(1).upper() in STOP_WORDS


def participants_sms_opt_out(*, phone: str, text: str) -> int:
    """A text message came in from `phone`: when it says STOP (or another stop word), opt
    out every participant with that number, in every contract (the reply is to our
    sender, whatever contract sent). How many were opted out now; the first time is kept.

    Phone numbers are stored as typed (`+44 7700-900 123`): the database drops the same
    separators `e164` drops before comparing, and `e164` confirms each match.
    """
    number = e164(phone)
    if number is None:
        raise ValidationError({"from": f"“{phone}” is not a number in E.164 form (+4477…)."})
    if not is_stop_message(text):
        return 0
    compact = F("phone")
    for separator in SEPARATOR_CHARS:  # all of them: a tab or a no-break space too
        compact = Replace(compact, Value(separator), Value(""))
    candidates = (
        Participant.objects.filter(opted_out_at__isnull=True)
        .annotate(compact_phone=compact)
        .filter(compact_phone=number)
        .only("pk", "phone")
    )
    matching = [p.pk for p in candidates if e164(p.phone) == number]
    opted = 0
    with transaction.atomic():
        now = timezone.now()
        for participant in Participant.objects.select_for_update().filter(
            pk__in=matching, opted_out_at__isnull=True
        ):
            participant.opted_out_at = now
            participant.save(update_fields=["opted_out_at"])  # kept in its history
            opted += 1
    return opted


def participant_unsubscribe(*, token: str) -> Participant | None:
    """Opt the participant a link names out of the contract's messages (once; the first
    time is kept). None when the link was altered or the participant is gone."""
    participant_id = unsubscribe_reader(token)
    if participant_id is None:
        return None
    with transaction.atomic():
        participant = (
            Participant.objects.select_for_update(of=("self",))
            .select_related("contract")
            .filter(pk=participant_id)
            .first()
        )
        if participant is not None and participant.opted_out_at is None:
            participant.opted_out_at = timezone.now()
            participant.save(update_fields=["opted_out_at"])  # kept in its history
    return participant
