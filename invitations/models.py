from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone
from simple_history.models import HistoricalRecords

from contracts.models import Contract, ContractPrice, Participant
from core.codes import MAX_PREFIX_LENGTH, MAX_WIDTH
from core.money import amount_field, currency_field
from core.progress import BatchProgress
from core.timezones import site_today

CODE_MAX_LENGTH = MAX_PREFIX_LENGTH + MAX_WIDTH


def code_state(
    *,
    is_archived: bool,
    status: str,
    uses: int,
    max_uses: int | None,
    valid_from: date | None,
    valid_until: date | None,
    today: date,
) -> str:
    """What staff see in a code's Status column, the most decisive fact first."""
    if is_archived:
        return "Archived"
    if status == InvitationCode.Status.REVOKED:
        return "Revoked"
    if status == InvitationCode.Status.SCHEDULED:
        return "Scheduled"
    if max_uses is not None and uses >= max_uses:
        return "Used"
    if valid_until and valid_until < today:
        return "Expired"
    if valid_from and valid_from > today:
        return "Not yet valid"
    return "Active"


def split_names(text: str) -> list[str]:
    """A rule's list of regions or groups, as staff typed it: separated by commas."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def join_names(names: list[str] | str) -> str:
    if isinstance(names, str):
        names = split_names(names)
    return ", ".join(dict.fromkeys(name.strip() for name in names if name.strip()))


class CodeBatch(BatchProgress, models.Model):
    """One generation job: who asked for how many codes, with which settings, and how far it is."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    # A batch is the log of a generation; it goes with its contract or price, which can
    # only be deleted while no code exists (the codes' own PROTECT and the services).
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="code_batches")
    price = models.ForeignKey(ContractPrice, on_delete=models.CASCADE, related_name="code_batches")
    prefix = models.CharField(max_length=MAX_PREFIX_LENGTH, blank=True)
    quantity = models.PositiveIntegerField()
    width = models.PositiveSmallIntegerField()
    max_uses = models.PositiveIntegerField(default=1)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    allowed_regions = models.CharField(max_length=500, blank=True, default="")
    allowed_groups = models.CharField(max_length=500, blank=True, default="")
    one_per_person = models.BooleanField(default=True)
    note = models.CharField(max_length=500, blank=True)
    participant_import = models.ForeignKey(
        "ParticipantImport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="code_batches",
        help_text="The CSV import that issued this batch's codes to participants.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    generated = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # A scheduled release: the batch's codes are made "scheduled" (not bookable) and the
    # minute job (invitations.services.schedules) makes them active at this time.
    release_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "code batches"
        indexes = [
            models.Index(fields=["prefix", "width"], name="batch_prefix_width"),
            # The minute job: batches waiting for their release.
            models.Index(
                fields=["release_at"],
                name="batch_release_due",
                condition=Q(release_at__isnull=False, released_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk} – {self.quantity} × {self.price.price_code}"


class InvitationCode(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"
        # Its batch's release time has not come: not bookable until the release job runs.
        SCHEDULED = "scheduled", "Scheduled"

    # The code is stored normalised; one unique index serves equality and prefix search
    # (varchar_pattern_ops on PostgreSQL), and Django adds no second `_like` index.
    code = models.CharField(max_length=CODE_MAX_LENGTH)
    # Foreign keys get composite indexes below instead of one index each: every index
    # is paid for on each of a million inserted rows. The contract, price and batch are
    # the same for every row of a batch and are checked once by the generating service,
    # so they carry no per-row database constraint (about 2.5 s per million rows each);
    # deleting them is still refused by PROTECT and by the services.
    contract = models.ForeignKey(
        Contract,
        on_delete=models.PROTECT,
        related_name="invitation_codes",
        db_index=False,
        db_constraint=False,
    )
    price = models.ForeignKey(
        ContractPrice,
        on_delete=models.PROTECT,
        related_name="invitation_codes",
        db_index=False,
        db_constraint=False,
    )
    batch = models.ForeignKey(
        CodeBatch,
        on_delete=models.PROTECT,
        related_name="codes",
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.PROTECT,
        related_name="invitation_codes",
        null=True,
        blank=True,
        db_index=False,
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    is_archived = models.BooleanField(default=False)
    uses = models.PositiveIntegerField(default=0)
    # Blank: no limit (a shared code for a whole group may have none).
    max_uses = models.PositiveIntegerField(default=1, null=True, blank=True)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    # Code rules. Columns have database defaults, so the bulk inserts may leave them out.
    # A list of names separated by commas; empty allows every region (or group).
    allowed_regions = models.CharField(max_length=500, blank=True, default="", db_default="")
    allowed_groups = models.CharField(max_length=500, blank=True, default="", db_default="")
    one_per_person = models.BooleanField(
        "One booking per person",
        default=True,
        db_default=True,
        help_text="Refuse a booking when the person already holds one on this contract.",
    )
    # A shared code is chosen by staff (an event's or a whole group's code); `label` keeps
    # their spelling for display, while `code` holds it normalised for the lookup.
    is_shared = models.BooleanField(default=False, db_default=False)
    label = models.CharField(max_length=CODE_MAX_LENGTH, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now)
    # When the code last changed (made, booked, voided, edited): the CRM change feed reads
    # by it. The database's statement time, so that every writer uses one clock; each
    # write path sets it (tests/invitations/test_updated_at.py). Not kept in the history,
    # whose own date says when.
    updated_at = models.DateTimeField(db_default=Now(), editable=False)
    history = HistoricalRecords(excluded_fields=["created_at", "updated_at"])

    class Meta:
        ordering = ["-id"]
        permissions = [("export_invitationcode", "Can download invitation codes as CSV")]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], name="invitation_code_unique", opclasses=["varchar_pattern_ops"]
            ),
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="code_max_uses_positive"),
            models.CheckConstraint(
                condition=Q(uses__lte=F("max_uses")), name="code_uses_within_max"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_until__gte=F("valid_from")),
                name="code_valid_until_after_from",
            ),
        ]
        indexes = [
            models.Index(fields=["contract", "id"], name="code_contract_id"),
            models.Index(fields=["price", "id"], name="code_price_id"),
            models.Index(fields=["batch", "id"], name="code_batch_id"),
            # A participant's codes newest first: their current code is one index probe,
            # even for an export of every participant (without the id, PostgreSQL walks
            # the primary key backwards looking for each participant's newest code).
            models.Index(
                fields=["participant", "-id"],
                name="code_participant_newest",
                condition=Q(participant__isnull=False),
            ),
            # The CRM change feed: what changed since a time, oldest first, by keyset.
            models.Index(fields=["updated_at", "id"], name="code_updated_id"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def state(self) -> str:
        return code_state(
            is_archived=self.is_archived,
            status=self.status,
            uses=self.uses,
            max_uses=self.max_uses,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            today=site_today(),
        )

    @property
    def is_used(self) -> bool:
        return self.uses > 0

    @property
    def display(self) -> str:
        """The code as staff and participants read it: a shared code in staff's spelling."""
        return self.label or self.code

    @property
    def regions(self) -> list[str]:
        return split_names(self.allowed_regions)

    @property
    def groups(self) -> list[str]:
        return split_names(self.allowed_groups)

    @property
    def uses_left(self) -> int | None:
        return None if self.max_uses is None else max(self.max_uses - self.uses, 0)


class ParticipantImport(models.Model):
    """One upload of a participant CSV: its file, the validation verdict, and the import.

    Nothing but this row (and the stored file) exists before Complete Import; the
    participants and codes are written in one transaction when it runs.
    """

    class Status(models.TextChoices):
        VALIDATING = "validating", "Validating"
        INVALID = "invalid", "Issues found"
        VALID = "valid", "Ready to import"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired (not imported)"

    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, related_name="participant_imports"
    )
    file = models.FileField(upload_to="participant-imports/%Y/%m/", blank=True)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    width = models.PositiveSmallIntegerField()
    update_existing = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.VALIDATING)
    rows = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)  # percent of the current step
    # The first issues found (row, column, value, message) and how many there are in all.
    issues = models.JSONField(default=list, blank=True)
    issue_count = models.PositiveIntegerField(default=0)
    # What the import will do / did: rows, new, updated, codes per price, notes for staff.
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Two imports into one contract at once could both issue a code to one person.
            models.UniqueConstraint(
                fields=["contract"],
                condition=Q(status="importing"),
                name="one_running_import_per_contract",
            )
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} – {self.original_name}"

    @property
    def is_busy(self) -> bool:
        return self.status in (self.Status.VALIDATING, self.Status.IMPORTING)


class Booking(models.Model):
    """A redemption of an invitation code: an appointment for the code's product and price.

    Append-only: a booking is never deleted; voiding it adds a BookingVoid and marks it.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Booked"
        VOIDED = "voided", "Voided"

    class Channel(models.TextChoices):
        WEB = "web", "Registration page"
        API = "api", "API"

    reference = models.CharField(max_length=16, unique=True)
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="bookings")
    code = models.ForeignKey(InvitationCode, on_delete=models.PROTECT, related_name="bookings")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="bookings")
    price = models.ForeignKey(ContractPrice, on_delete=models.PROTECT, related_name="bookings")
    # The price as it was booked; the contract's price may change later.
    amount = amount_field()
    currency = currency_field()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # The code's "one booking per person" rule when it was booked.
    exclusive = models.BooleanField(default=True)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.WEB)
    # The form's token or the API client's Idempotency-Key (namespaced): a retry finds
    # the booking it made instead of making another.
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Booked or voided last, by the database's clock: the CRM change feed reads by it.
    updated_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["-id"]
        permissions = [("void_booking", "Can void a booking")]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "participant"],
                condition=Q(status="active"),
                name="one_active_booking_per_code_and_participant",
            ),
            models.UniqueConstraint(
                fields=["contract", "participant"],
                condition=Q(status="active", exclusive=True),
                name="one_exclusive_booking_per_contract_and_participant",
            ),
        ]
        indexes = [
            models.Index(fields=["contract", "-id"], name="booking_contract_newest"),
            # Quotas count a contract's active bookings, in all and since midnight.
            models.Index(
                fields=["contract", "status", "created_at"], name="booking_contract_status_time"
            ),
            models.Index(fields=["participant", "status"], name="booking_participant_status"),
            models.Index(fields=["updated_at", "id"], name="booking_updated_id"),
        ]

    def __str__(self) -> str:
        return self.reference


class BookingVoid(models.Model):
    """Staff voided a booking, with a reason; the use goes back to the code if it still can."""

    booking = models.OneToOneField(Booking, on_delete=models.PROTECT, related_name="void")
    reason = models.TextField()
    use_freed = models.BooleanField(default=False)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    voided_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Void of {self.booking}"


class DeletedCode(models.Model):
    """What is left of a code staff deleted (never used): the CRM's change feed of
    deletions reads it, so a synced copy of the code can go too.

    Plain ids, no foreign keys: the contract may go later, the record of the deletion
    stays with the organisation it belonged to.
    """

    code_id = models.BigIntegerField()
    code = models.CharField(max_length=CODE_MAX_LENGTH)
    contract_id = models.BigIntegerField()
    organisation_id = models.BigIntegerField()
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The change feed's stamp (core.feeds): when it was deleted, by the database's clock.
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["updated_at", "id"], name="deletedcode_updated_id"),
            models.Index(fields=["organisation_id", "updated_at", "id"], name="deletedcode_org"),
        ]

    def __str__(self) -> str:
        return f"{self.code} (deleted)"


def _log_link(to) -> models.ForeignKey:
    """A link from the log: nullable and without a database constraint, since the log
    outlives what it mentions."""
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )


class RedemptionAttempt(models.Model):
    """Every attempt to book with a code, successful or not: the record for disputes."""

    class Result(models.TextChoices):
        BOOKED = "booked", "Booked"
        REPLAYED = "replayed", "Repeated request (first booking returned)"
        MALFORMED = "malformed", "Not a code"
        TYPO = "typo", "Typo (check symbol)"
        UNKNOWN = "unknown", "Unknown code"
        NOT_YET_VALID = "not_yet_valid", "Not yet valid"
        EXPIRED = "expired", "Expired"
        USED_UP = "used_up", "Already used"
        REVOKED = "revoked", "Revoked"
        CONTRACT_INACTIVE = "contract_inactive", "Contract not active"
        REGION = "region", "Region not allowed"
        GROUP = "group", "Group not allowed"
        ALREADY_BOOKED = "already_booked", "Already booked on this contract"
        NOT_ON_LIST = "not_on_list", "Not on the closed group's list"
        HAS_INVITATION = "has_invitation", "Email holds its own invitation"
        THROTTLED = "throttled", "Too many attempts"
        QUOTA = "quota", "Contract quota or budget reached"

    created_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=5, choices=Booking.Channel.choices)
    result = models.CharField(max_length=20, choices=Result.choices)
    code_typed = models.CharField(max_length=64, blank=True)
    code = _log_link(InvitationCode)
    contract = _log_link(Contract)
    booking = _log_link(Booking)
    email = models.CharField(max_length=254, blank=True)
    address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    user = _log_link(settings.AUTH_USER_MODEL)
    message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["contract", "-id"], name="attempt_contract_newest"),
            models.Index(fields=["code", "-id"], name="attempt_code_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.code_typed} {self.result}"

    @property
    def is_success(self) -> bool:
        return self.result in (self.Result.BOOKED, self.Result.REPLAYED)
