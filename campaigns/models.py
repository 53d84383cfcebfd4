"""Getting codes to people and watching what happens: message templates, distributions
(one send to many participants), one message per person and code, and anomaly alerts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contracts.models import Contract, Participant


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Purpose(models.TextChoices):
    """Why a code is sent: the code itself, or a reminder that it expires soon. Each
    purpose reaches a code's holder once by a channel (the messages' unique index)."""

    CODE = "code", "Code"
    REMINDER = "reminder", "Reminder"


class MessageTemplate(models.Model):
    """A contract's personalised message; placeholders in {braces} (campaigns.templating)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "name"], name="template_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Distribution(models.Model):
    """One send of a contract's codes to a set of participants through one template."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="distributions")
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Set for a scheduled send; the beat job starts it then.
    send_at = models.DateTimeField(null=True, blank=True)
    purpose = models.CharField(
        max_length=10, choices=Purpose.choices, default=Purpose.CODE, db_default=Purpose.CODE
    )
    # The wave that made this send (daily job), if any.
    wave = models.ForeignKey(
        "Wave", on_delete=models.SET_NULL, null=True, blank=True, related_name="distributions"
    )
    # The reminder rule that made this send (daily job), if any.
    reminder_rule = models.ForeignKey(
        "ReminderRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="distributions",
    )
    total = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life: queued (again), a worker starting, a chunk done. The minute job
    # takes up a send only when this is old, so a live send never gains a second worker.
    active_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        permissions = [("view_analytics", "Can view campaign analytics")]

    def __str__(self) -> str:
        return f"{self.template} ({self.created_at:%Y-%m-%d})"


class Message(models.Model):
    """One code to one person by one channel: sent at most once, whatever is retried."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    distribution = models.ForeignKey(
        Distribution, on_delete=models.CASCADE, related_name="messages"
    )
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="messages")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="messages")
    code = models.ForeignKey(
        "invitations.InvitationCode", on_delete=models.CASCADE, related_name="messages"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    purpose = models.CharField(
        max_length=10, choices=Purpose.choices, default=Purpose.CODE, db_default=Purpose.CODE
    )
    to = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            # Never the same code to the same person twice by the same channel by accident,
            # and never a second reminder of it either.
            models.UniqueConstraint(
                fields=["code", "participant", "channel", "purpose"],
                condition=~Q(status="skipped"),
                name="message_once_per_code_person_purpose",
            ),
        ]
        indexes = [
            models.Index(fields=["distribution", "status"], name="message_dist_status_idx"),
            models.Index(fields=["contract", "sent_at"], name="message_contract_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.code_id} → {self.to or self.participant_id}"


class ReminderRule(models.Model):
    """A contract's reminder: `days_before` a code expires, its holder gets `template` once,
    if the code was sent to them and is still unused (the daily job, services.reminders)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="reminder_rules")
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="+")
    days_before = models.PositiveSmallIntegerField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["days_before", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(days_before__gte=1, days_before__lte=365),
                name="reminder_days_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} {self.days_before} days before expiry"


class Wave(models.Model):
    """Sending a contract's codes in waves: each day, `per_day` more participants (in the
    order of the participant list) who hold an unused code never sent get `template`."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="waves")
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="+")
    per_day = models.PositiveIntegerField()
    starts_on = models.DateField()
    is_active = models.BooleanField(default=True)
    # The day the job last sent a wave: claimed with a conditional UPDATE, once a day.
    last_sent_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["starts_on", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(per_day__gte=1), name="wave_per_day_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.template}: {self.per_day} a day from {self.starts_on}"


class Alert(models.Model):
    """Something in the redemption log that a person should look at."""

    class Kind(models.TextChoices):
        FAILED_BURST = "failed_burst", "Burst of failed attempts from one address"
        ADDRESS_REDEMPTIONS = "address_redemptions", "Many redemptions from one address"
        PARTICIPANT_REDEMPTIONS = "participant_redemptions", "Many redemptions by one participant"
        FAR_REGION = "far_region", "Redeemed outside the participant's region"
        SPIKE = "spike", "Spike against the daily average"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"

    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # What it is about (an address, a participant id, a code, a day), for de-duplication.
    key = models.CharField(max_length=200)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "day"], name="alert_once_per_day"),
        ]

    def __str__(self) -> str:
        return self.message


class AnalyticsRollup(models.Model):
    """A contract's analytics as last counted (campaigns.services.analytics).

    Counting a big contract live (a million codes, hundreds of thousands of bookings and
    messages joined to their participants) takes seconds; the Analytics pages read these
    figures instead, exact as of `counted_at`, and say so. A job recounts a contract a
    minute after its codes, bookings or sends change, and every contract each night.
    """

    contract = models.OneToOneField(
        Contract, on_delete=models.CASCADE, related_name="analytics_rollup"
    )
    # When the counting started: every figure is as of then.
    counted_at = models.DateTimeField()
    seconds = models.FloatField(default=0)  # how long the counting took
    codes = models.PositiveBigIntegerField(default=0)  # codes generated, when counted

    def __str__(self) -> str:
        return f"Analytics of {self.contract_id} as of {self.counted_at:%Y-%m-%d %H:%M}"


class AnalyticsFigure(models.Model):
    """One figure of a rollup: a count (and an amount) for a kind of thing and a key,
    e.g. ("booked.region", "North", "EUR") or ("delay", minutes=42)."""

    # The (rollup, figure) index below serves the rollup too.
    rollup = models.ForeignKey(
        AnalyticsRollup, on_delete=models.CASCADE, related_name="figures", db_index=False
    )
    figure = models.CharField(max_length=20)
    # NULL, not "": a code held by no participant (a blank region is "").
    key = models.CharField(max_length=300, null=True, blank=True)  # noqa: DJ001
    number = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    count = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["rollup", "figure"], name="analytics_figure_idx")]

    def __str__(self) -> str:
        return f"{self.figure} {self.key or self.number}: {self.count}"
