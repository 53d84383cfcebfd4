"""Pass plans and passes.

A plan says what its passes unlock (a gift or a top-up credited into a wallet, or a
promotion's offer), how they are distributed (printed in a batch, or electronic one by
one) and for how long. Every change to a pass writes a PassEvent (as Saleor's gift
cards do); a redemption is a PassRedemption row, unique per pass, so a pass is
redeemed once whatever the concurrency.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.codes import MAX_PREFIX_LENGTH, MAX_WIDTH, MIN_WIDTH
from core.money import amount_field, currency_field
from core.progress import BatchProgress
from wallets.models import MAIN

CODE_MAX_LENGTH = MAX_PREFIX_LENGTH + MAX_WIDTH


class PassPlan(models.Model):
    class Type(models.TextChoices):
        GIFT = "gift", "Gift"
        TOPUP = "topup", "Top-up"
        PROMOTION = "promotion", "Promotion"

    class Format(models.TextChoices):
        PRINTED = "printed", "Printed"
        ELECTRONIC = "electronic", "Electronic"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=Type.choices)
    format = models.CharField(max_length=10, choices=Format.choices)
    classification = models.CharField(max_length=100, blank=True)
    # Until when a pass can be redeemed: a fixed date, or a number of days from its issue.
    valid_until = models.DateField(null=True, blank=True)
    valid_days = models.PositiveIntegerField(null=True, blank=True)
    # Gift and top-up: a fixed value (min = max), or a range chosen when the pass is bought.
    value_min = amount_field(null=True, blank=True)
    value_max = amount_field(null=True, blank=True)
    currency = currency_field()
    # How long credited money stays spendable in the wallet (empty: no limit).
    funds_valid_days = models.PositiveIntegerField(null=True, blank=True)
    wallet_balance = models.CharField(max_length=20, default=MAIN)
    pin_required = models.BooleanField(default=False)
    prefix = models.CharField(max_length=MAX_PREFIX_LENGTH, blank=True)
    code_width = models.PositiveSmallIntegerField(default=10)
    quantity = models.PositiveIntegerField(null=True, blank=True, help_text="Printed plans.")
    offer = models.CharField(
        max_length=200, blank=True, help_text="Promotion: the offer a redemption activates."
    )
    # Promotion: one code per contact, or one universal code each contact may use once.
    code_mode = models.CharField(
        max_length=10,
        choices=[("unique", "Unique code per contact"), ("universal", "One universal code")],
        default="unique",
    )
    # Promotion criteria: a purchase event matches when it names one of these products
    # (SKUs) and the contact is in one of these segments; empty means any.
    target_products = models.JSONField(default=list, blank=True)
    target_segments = models.JSONField(default=list, blank=True)
    # Electronic gift plans only: sold to the public on the gift landing page.
    sold_online = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Whose webhook endpoints hear of its passes' redemptions (pass.redeemed); none: nobody's.
    organisation = models.ForeignKey(
        "contracts.Organisation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="pass_plans",
        help_text="Its passes' redemptions are sent to this organisation's webhook endpoints.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(type="promotion") | Q(pin_required=False),
                name="pass_plan_no_pin_on_promotion",
                violation_error_message="A promotion pass has no PIN.",
            ),
            models.CheckConstraint(
                condition=Q(type="promotion")
                | (Q(value_min__gt=0) & Q(value_max__gte=F("value_min"))),
                name="pass_plan_value_range",
                violation_error_message="A gift or top-up plan needs a value above zero.",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_days__isnull=True),
                name="pass_plan_one_validity",
            ),
            models.CheckConstraint(
                condition=Q(code_width__gte=MIN_WIDTH) & Q(code_width__lte=MAX_WIDTH),
                name="pass_plan_code_width_range",
            ),
            models.CheckConstraint(
                condition=~Q(format="printed") | Q(quantity__gt=0),
                name="pass_plan_printed_quantity",
                violation_error_message="A printed plan needs a quantity.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_range(self) -> bool:
        return self.value_min is not None and self.value_min != self.value_max


class PassBatch(BatchProgress, models.Model):
    """The generation of a printed plan's passes: progress, and the PDF made from it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Generating passes"
        PRINTING = "printing", "Printing the PDF"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    plan = models.ForeignKey(PassPlan, on_delete=models.PROTECT, related_name="batches")
    quantity = models.PositiveIntegerField()
    generated = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    # The printed passes with their PINs: the only place the PINs exist in clear.
    pdf = models.FileField(upload_to="pass-batches/%Y/%m/", blank=True)
    # When a worker last claimed it: a batch left running far longer was abandoned.
    started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "pass batches"

    def __str__(self) -> str:
        return f"Batch {self.pk} of {self.plan}"


class Pass(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REDEEMED = "redeemed", "Redeemed"
        CANCELLED = "cancelled", "Cancelled"
        # Set by the nightly sweep (passes_expire) once `expires_on` has passed unredeemed.
        EXPIRED = "expired", "Expired"

    plan = models.ForeignKey(PassPlan, on_delete=models.PROTECT, related_name="passes")
    batch = models.ForeignKey(
        PassBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="passes"
    )
    code = models.CharField(max_length=CODE_MAX_LENGTH)
    # HMAC-SHA256 of the PIN with a key outside the database (core.pins); never the PIN.
    pin_hash = models.CharField(max_length=64, blank=True)
    value = amount_field(null=True, blank=True)
    currency = currency_field()
    expires_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="passes",
        help_text="The contact an electronic pass was issued to.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "passes"
        constraints = [
            models.UniqueConstraint(
                fields=["code"], name="pass_code_unique", opclasses=["varchar_pattern_ops"]
            ),
        ]
        indexes = [models.Index(fields=["plan", "id"], name="pass_plan_id")]

    def __str__(self) -> str:
        return self.code


class PassEvent(models.Model):
    """Every change to a pass, in order: the pass's own history."""

    class Type(models.TextChoices):
        ISSUED = "issued", "Issued"
        REDEEMED = "redeemed", "Redeemed"
        PIN_FAILED = "pin_failed", "Wrong PIN"
        PIN_RESET = "pin_reset", "PIN reset"
        STATUS_CHANGED = "status_changed", "Status changed"
        EXPIRY_CHANGED = "expiry_changed", "Expiry changed"
        VALUE_CHANGED = "value_changed", "Value changed"

    pass_obj = models.ForeignKey(Pass, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=20, choices=Type.choices)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["pass_obj", "id"], name="pass_event_pass_id")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.pass_obj_id})"


class PassRedemption(models.Model):
    """The one redemption of a pass: its unique pass makes 'once' a database fact."""

    pass_obj = models.OneToOneField(Pass, on_delete=models.PROTECT, related_name="redemption")
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    wallet_transaction = models.OneToOneField(
        "wallets.WalletTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pass_redemption",
    )
    offer = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Redemption of {self.pass_obj_id}"


class GiftOrder(models.Model):
    """A gift pass bought on the landing page for a beneficiary."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        NOT_ISSUED = "not_issued", "Paid, pass not issued: refund"

    plan = models.ForeignKey(PassPlan, on_delete=models.PROTECT, related_name="orders")
    pass_obj = models.OneToOneField(
        Pass, on_delete=models.PROTECT, null=True, blank=True, related_name="order"
    )
    value = amount_field()
    currency = currency_field()
    buyer_name = models.CharField(max_length=200)
    buyer_email = models.EmailField()
    beneficiary_name = models.CharField(max_length=200)
    beneficiary_email = models.EmailField()
    message = models.TextField(blank=True)
    payment_provider = models.CharField(max_length=40)
    payment_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    # The beneficiary's landing page; the PIN is in their email only.
    token = models.CharField(max_length=64, unique=True)
    # The form's one-time token: a double submit finds this order instead of paying twice.
    request_token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Order {self.pk}: {self.value} {self.currency} for {self.beneficiary_email}"


class PurchaseEvent(models.Model):
    """A purchase reported by the shop or CRM; matching promotion plans issue passes."""

    reference = models.CharField(max_length=100, unique=True)
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchase_events"
    )
    products = models.JSONField(default=list)
    segments = models.JSONField(default=list)
    amount = amount_field(null=True, blank=True)
    # What the event gave: [{"plan": id, "code": "...", "mode": "unique" | "universal"}]
    results = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.reference


class OfferActivation(models.Model):
    """A promotion's offer activated for a contact: once per contact and pass."""

    pass_obj = models.ForeignKey(Pass, on_delete=models.PROTECT, related_name="activations")
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offer_activations"
    )
    offer = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pass_obj", "contact"], name="offer_activation_once_per_contact"
            )
        ]

    def __str__(self) -> str:
        return f"{self.offer} for {self.contact_id}"
