from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.codes import MAX_WIDTH, MIN_WIDTH
from core.models import WebhookEndpoint
from core.money import amount_field, currency_field

EXTERNAL_ID_MAX_LENGTH = 100


def external_id_field() -> models.CharField:
    """The id a record has in the customer's CRM; the CRM sync API upserts by it."""
    return models.CharField(
        "External ID",
        max_length=EXTERNAL_ID_MAX_LENGTH,
        blank=True,
        default="",
        help_text="Its id in the customer's CRM, for the CRM sync API; empty if none.",
    )


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=40, unique=True, help_text="Short code for internal use, e.g. ACME."
    )
    external_id = external_id_field()
    # Where this organisation's events go (code.redeemed, booking.created, booking.voided,
    # pass.redeemed): its own systems, signed by core.webhooks.
    webhook_endpoints = models.ManyToManyField(
        WebhookEndpoint,
        blank=True,
        related_name="organisations",
        help_text="Receive this organisation's booking, code and pass events.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="organisation_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Contract(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    class Identifier(models.TextChoices):
        """What identifies a participant when a CSV file is imported into the contract."""

        ID = "id", "Participant ID"
        EMAIL = "email", "Email address"
        REFERENCE = "reference", "External reference"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="contracts"
    )
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=40, help_text="Short code for internal use.")
    external_id = external_id_field()
    invitation_prefix = models.CharField(
        max_length=10,
        blank=True,
        help_text="Optional, up to 10 characters put before every invitation code.",
    )
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    currency = currency_field()
    default_code_width = models.PositiveSmallIntegerField(
        default=8, help_text=f"Characters after the prefix, {MIN_WIDTH}–{MAX_WIDTH}."
    )
    participant_identifier = models.CharField(
        "Unique Identifier",
        max_length=10,
        choices=Identifier.choices,
        default=Identifier.ID,
        help_text="How a participant CSV import recognises participants already on the contract.",
    )
    # Quotas and budget: the registration page refuses once one is reached (empty: none).
    max_bookings = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most bookings in all; empty for no limit."
    )
    max_bookings_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most bookings in one day; empty for no limit."
    )
    budget_cap = amount_field(
        null=True, blank=True, help_text="Most the booked prices may add up to; empty for no cap."
    )
    # Alerts about this contract are emailed to its managers.
    alert_emails = models.BooleanField(
        default=False, help_text="Email new anomaly alerts to the contract managers."
    )
    is_closed_group = models.BooleanField(
        "Closed group",
        default=False,
        help_text="Only people on the participant list can book, with the email address "
        "it holds for them.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code"], name="contract_code_unique_per_organisation"
            ),
            models.UniqueConstraint(
                fields=["organisation", "external_id"],
                condition=~Q(external_id=""),
                name="contract_external_id_unique_per_organisation",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="contract_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(default_code_width__gte=MIN_WIDTH)
                & Q(default_code_width__lte=MAX_WIDTH),
                name="contract_default_width_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    base_price = amount_field()
    currency = currency_field()
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(base_price__gte=0),
                name="product_base_price_not_negative",
                violation_error_message="The base price cannot be negative.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ContractPrice(models.Model):
    """The contract's own price for a product; codes are generated against one of these."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="prices")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="contract_prices")
    price_code = models.CharField(
        max_length=20, help_text="Unique within the contract; used in participant CSV files."
    )
    amount = amount_field()
    currency = currency_field()
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["price_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "price_code"], name="price_code_unique_per_contract"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="price_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.price_code} – {self.product.name} – {self.amount} {self.currency}"


class Participant(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="participants")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    external_reference = models.CharField(
        max_length=100, blank=True, help_text="Employee or member number."
    )
    group = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)
    # Set when they unsubscribed from the contract's messages; nothing is sent after it.
    opted_out_at = models.DateTimeField(null=True, blank=True)
    # The account a booking created or linked, which holds the contract's access.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="participations",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "external_reference"],
                condition=~Q(external_reference=""),
                name="participant_reference_unique_per_contract",
            ),
        ]
        indexes = [models.Index(fields=["contract", "email"], name="participant_contract_email")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ApiToken(models.Model):
    """A key an organisation's own system (its CRM) calls the CRM sync API with.

    Only the key's SHA-256 is stored, with its first characters to recognise it by: the
    key is 256 random bits, so a slow password hash would add nothing, and the lookup
    stays one probe of a unique index. The key itself is shown once, when it is made.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read: the change feeds of codes and bookings"
        WRITE = "write", "Write: upsert organisations, contracts and participants"

    # Empty: a token for every organisation (only Administrators make one).
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="Empty: every organisation (Administrators only).",
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. “Salesforce sync”.")
    scopes = models.JSONField(default=list)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Kept to the minute: a busy integration does not write on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "API token"
        permissions = [("manage_api_tokens", "Can manage organisation API tokens")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_global(self) -> bool:
        return self.organisation_id is None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes
