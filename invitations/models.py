from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from contracts.models import Contract, ContractPrice, Participant
from core.codes import MAX_PREFIX_LENGTH, MAX_WIDTH
from core.progress import BatchProgress

CODE_MAX_LENGTH = MAX_PREFIX_LENGTH + MAX_WIDTH


def code_state(
    *,
    is_archived: bool,
    status: str,
    uses: int,
    max_uses: int,
    valid_from: date | None,
    valid_until: date | None,
    today: date,
) -> str:
    """What staff see in a code's Status column, the most decisive fact first."""
    if is_archived:
        return "Archived"
    if status == InvitationCode.Status.REVOKED:
        return "Revoked"
    if uses >= max_uses:
        return "Used"
    if valid_until and valid_until < today:
        return "Expired"
    if valid_from and valid_from > today:
        return "Not yet valid"
    return "Active"


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
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "code batches"
        indexes = [models.Index(fields=["prefix", "width"], name="batch_prefix_width")]

    def __str__(self) -> str:
        return f"Batch {self.pk} – {self.quantity} × {self.price.price_code}"


class InvitationCode(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"

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
    max_uses = models.PositiveIntegerField(default=1)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(excluded_fields=["created_at"])

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
            today=timezone.localdate(),
        )

    @property
    def is_used(self) -> bool:
        return self.uses > 0


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
