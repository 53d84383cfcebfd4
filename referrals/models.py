from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from contracts.models import Contract, ContractPrice
from core.models import WebhookEndpoint
from core.money import amount_field, currency_field

REFERRAL_CODE_WIDTH = 8


class ReferralProgram(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    class Success(models.TextChoices):
        SIGNUP = "signup", "Signup confirmed by email"
        CONVERSION = "conversion", "Conversion reported by API"

    name = models.CharField(max_length=200)
    # The program's public address: /refer/<slug>/ (signup) and the embed snippets.
    slug = models.SlugField(max_length=60, unique=True)
    contract = models.ForeignKey(
        Contract, on_delete=models.SET_NULL, null=True, blank=True, related_name="referral_programs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    landing_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where a referral link leads; empty: the program's own signup page.",
    )
    success_event = models.CharField(max_length=12, choices=Success.choices, default=Success.SIGNUP)
    cookie_days = models.PositiveSmallIntegerField(default=30)
    # One origin per line (https://partner.example); the pages may be framed only there.
    allowed_origins = models.TextField(blank=True, default="")
    # Fraud guards.
    flag_same_domain = models.BooleanField(
        default=False, help_text="Flag a referral whose email domain is the referrer's."
    )
    signup_limit_per_address = models.PositiveSmallIntegerField(default=3)
    signup_window_minutes = models.PositiveIntegerField(default=60)
    webhook_endpoints = models.ManyToManyField(
        WebhookEndpoint, blank=True, related_name="referral_programs"
    )
    # Email templates: placeholders in {braces}; see referrals.emails.PLACEHOLDERS.
    welcome_subject = models.CharField(max_length=200, blank=True)
    welcome_body = models.TextField(blank=True)
    referral_subject = models.CharField(max_length=200, blank=True)
    referral_body = models.TextField(blank=True)
    reward_subject = models.CharField(max_length=200, blank=True)
    reward_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def origins(self) -> list[str]:
        return [
            line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()
        ]


class RewardTier(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", "Delivered by hand"
        CODE = "code", "Invitation code"
        PASS = "pass", "Pass"
        WALLET = "wallet", "Wallet credit"

    program = models.ForeignKey(ReferralProgram, on_delete=models.CASCADE, related_name="tiers")
    name = models.CharField(max_length=200)
    threshold = models.PositiveIntegerField(help_text="Successful referrals needed.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MANUAL)
    price = models.ForeignKey(
        ContractPrice, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pass_plan = models.ForeignKey(
        "passes.PassPlan", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    credit_amount = amount_field(null=True, blank=True)
    credit_currency = currency_field(blank=True, default="")
    two_sided = models.BooleanField(
        default=False, help_text="The referred company whose referral reaches it gets one too."
    )

    class Meta:
        ordering = ["threshold", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["program", "threshold"], name="tier_threshold_unique"),
            models.CheckConstraint(condition=Q(threshold__gte=1), name="tier_threshold_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.threshold})"


def new_status_key() -> str:
    return secrets.token_urlsafe(9)


class Referrer(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        ACTIVE = "active", "Active"

    class Source(models.TextChoices):
        SIGNUP = "signup", "Signup form"
        IMPORT = "import", "Imported"
        INSTANT = "instant", "Instant signup link"

    program = models.ForeignKey(ReferralProgram, on_delete=models.CASCADE, related_name="referrers")
    name = models.CharField(max_length=200)
    company = models.CharField(max_length=200, blank=True)
    email = models.EmailField()
    # The mailbox behind the address: lower case, "+tag" dropped, Gmail's dots dropped.
    mailbox = models.CharField(max_length=254)
    code = models.CharField(max_length=REFERRAL_CODE_WIDTH, unique=True)
    # Part of the signed status link: a new key makes the old link stop opening. Empty for
    # referrers from before keys, whose links carry none.
    status_key = models.CharField(max_length=16, blank=True, default=new_status_key)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SIGNUP)
    # The client address (an IPv6 client by its /64), as core.throttle reads it.
    signup_address = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Counters for the status page, kept by the services with conditional UPDATEs.
    visits = models.PositiveIntegerField(default=0)
    signups = models.PositiveIntegerField(default=0)
    successful = models.PositiveIntegerField(default=0)
    wallet = models.ForeignKey(
        "wallets.Wallet", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    origin_import = models.ForeignKey(
        "ReferrerImport", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["program", "email"], name="referrer_email_unique"),
        ]
        indexes = [
            models.Index(fields=["program", "mailbox"], name="referrer_mailbox_idx"),
            models.Index(
                fields=["program", "signup_address", "created_at"], name="referrer_addr_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Referral(models.Model):
    class Stage(models.TextChoices):
        SIGNED_UP = "signed_up", "Signed up"
        CONFIRMED = "confirmed", "Confirmed"
        CONVERTED = "converted", "Converted"

    class Review(models.TextChoices):
        CLEAN = "clean", "Clean"
        FLAGGED = "flagged", "Flagged for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    program = models.ForeignKey(ReferralProgram, on_delete=models.CASCADE, related_name="referrals")
    referrer = models.ForeignKey(Referrer, on_delete=models.CASCADE, related_name="referrals")
    # The referred person as a referrer of their own (a signup); null for a conversion
    # reported by API for someone who never signed up.
    referred = models.OneToOneField(
        Referrer, on_delete=models.CASCADE, null=True, blank=True, related_name="referred_by"
    )
    email = models.EmailField()
    external_id = models.CharField(max_length=200, blank=True, default="")
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.SIGNED_UP)
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.CLEAN)
    flags = models.JSONField(default=list, blank=True)
    # Set once the referral counts towards the referrer's rewards.
    counted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-pk"]
        constraints = [
            # A person is referred once per program, whoever referred them first.
            models.UniqueConstraint(fields=["program", "email"], name="referral_email_unique"),
            models.UniqueConstraint(
                fields=["program", "external_id"],
                condition=~Q(external_id=""),
                name="referral_external_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["referrer", "counted_at"], name="referral_counted_idx"),
            models.Index(
                fields=["program", "review"],
                condition=Q(review="flagged"),
                name="referral_flagged_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} (by {self.referrer.email})"


class Reward(models.Model):
    class State(models.TextChoices):
        EARNED = "earned", "Earned"
        DELIVERED = "delivered", "Delivered"
        REVOKED = "revoked", "Revoked"

    class Side(models.TextChoices):
        REFERRER = "referrer", "Referrer"
        REFERRED = "referred", "Referred company"

    program = models.ForeignKey(ReferralProgram, on_delete=models.CASCADE, related_name="rewards")
    tier = models.ForeignKey(RewardTier, on_delete=models.PROTECT, related_name="rewards")
    referrer = models.ForeignKey(Referrer, on_delete=models.CASCADE, related_name="rewards")
    side = models.CharField(max_length=10, choices=Side.choices, default=Side.REFERRER)
    # For a two-sided reward, the referral whose count reached the tier; the referred side's
    # reward belongs to that referral's referrer record but is meant for `email`.
    referral = models.ForeignKey(
        Referral, on_delete=models.SET_NULL, null=True, blank=True, related_name="rewards"
    )
    email = models.EmailField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.EARNED)
    earned_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # What was given: a readable line, and the object where there is one.
    delivery = models.CharField(max_length=300, blank=True)
    delivery_error = models.CharField(max_length=500, blank=True)
    note = models.CharField(max_length=500, blank=True)
    code = models.ForeignKey(
        "invitations.InvitationCode",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    pass_obj = models.ForeignKey(
        "passes.Pass", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    wallet_transaction = models.ForeignKey(
        "wallets.WalletTransaction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-pk"]
        constraints = [
            # A tier fires once per referrer, and once for each referred company it names.
            models.UniqueConstraint(
                fields=["tier", "referrer"],
                condition=Q(side="referrer"),
                name="reward_once_per_referrer",
            ),
            models.UniqueConstraint(
                fields=["tier", "referral"],
                condition=Q(side="referred"),
                name="reward_once_per_referred",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier.name} for {self.email}"


class ReferrerImport(models.Model):
    """An uploaded CSV of existing users, checked before anything is written."""

    class Status(models.TextChoices):
        INVALID = "invalid", "Has issues"
        VALID = "valid", "Ready to import"
        DONE = "done", "Imported"

    program = models.ForeignKey(ReferralProgram, on_delete=models.CASCADE, related_name="imports")
    file_name = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices)
    # The checked rows (name, company, email) while valid; the issues while invalid.
    rows = models.JSONField(default=list, blank=True)
    issues = models.JSONField(default=list, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    issue_count = models.PositiveIntegerField(default=0)
    already_members = models.PositiveIntegerField(default=0)
    send_welcome = models.BooleanField(default=False)
    imported = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"
