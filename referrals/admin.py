"""Referral programs in the admin. Every write goes through referrals.services: programs and
their tiers are saved by the services, referrals are reviewed and rewards delivered or
revoked by admin actions calling them; referrers, referrals, rewards and imports are
otherwise shown read-only (the counters are kept by the services' conditional UPDATEs)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.http import HttpRequest
from django.utils.html import format_html

from contracts.models import ContractPrice
from core import codes as codelib
from core.admin import ServiceAdminMixin
from core.errors import DomainError
from core.pagination import EstimatedCountPaginator
from referrals import fraud, links, services
from referrals.models import (
    REFERRAL_CODE_WIDTH,
    Referral,
    ReferralProgram,
    Referrer,
    ReferrerImport,
    Reward,
    RewardTier,
)
from referrals.services.programs import PROGRAM_FIELDS, TEMPLATE_FIELDS

TIER_FIELDS = [
    "name",
    "threshold",
    "kind",
    "price",
    "pass_plan",
    "credit_amount",
    "credit_currency",
    "two_sided",
]


def _pretty_json(value) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


class _ViewOnlyRecord(admin.ModelAdmin):
    """A record the services write: shown read-only, never added or deleted here.

    With the change permission a user still gets the list's actions (which call the
    services); the record's own page stays read-only, Django's view permission covering
    change-permitted users.
    """

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ["-pk"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def run_service(self, request: HttpRequest, queryset, label, call, done: str) -> None:
        """Call a service for each selected row; name each refusal, count what was done."""
        count = 0
        for obj in queryset.order_by("pk"):
            try:
                call(obj)
            except (DomainError, ValidationError) as exc:
                reason = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
                self.message_user(request, f"{label(obj)}: {reason}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, done.format(count=count))


# --- programs --------------------------------------------------------------------------


class RewardTierForm(forms.ModelForm):
    """A new tier is added through the service; one already saved is shown, not edited
    (a changed threshold would change what earned rewards meant). Deleting goes through the
    service too, which keeps an earned tier."""

    class Meta:
        model = RewardTier
        fields = TIER_FIELDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for field in self.fields.values():
                field.disabled = True


class RewardTierInline(admin.TabularInline):
    model = RewardTier
    form = RewardTierForm
    extra = 0

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # The form class is made for this request: limiting its choices is safe.
        prices = ContractPrice.objects.select_related("product")
        if obj is not None and obj.contract_id:
            prices = prices.filter(contract_id=obj.contract_id)
        formset.form.base_fields["price"].queryset = prices
        return formset


@admin.register(ReferralProgram)
class ReferralProgramAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "contract", "status", "success_event"]
    list_filter = ["status"]
    list_select_related = ["contract"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["webhook_endpoints"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [RewardTierInline]
    readonly_fields = ["slug", "created_by", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", *PROGRAM_FIELDS[1:], "webhook_endpoints"]}),
        ("Emails", {"classes": ["collapse"], "fields": list(TEMPLATE_FIELDS)}),
        (None, {"fields": ["created_by", "created_at"]}),
    ]

    def save_model(self, request: HttpRequest, obj: ReferralProgram, form, change) -> None:
        data = {name: getattr(obj, name) for name in PROGRAM_FIELDS + TEMPLATE_FIELDS}
        if change:
            services.program_update(actor=request.user, program=obj, **data)
        else:
            program = services.program_create(actor=request.user, **data)
            obj.pk, obj.slug, obj.created_at = program.pk, program.slug, program.created_at

    def save_related(self, request: HttpRequest, form, formsets, change) -> None:
        program = form.instance
        chosen = set(form.cleaned_data["webhook_endpoints"])
        current = set(program.webhook_endpoints.all())
        for endpoint in current - chosen:
            services.endpoint_remove(actor=request.user, program=program, endpoint=endpoint)
        # Linking an endpoint that exists already has no service (endpoint_add makes a new
        # one, with a new secret): the link row is the whole write.
        program.webhook_endpoints.add(*(chosen - current))
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form, formset, change) -> None:
        formset.save(commit=False)  # sorts the rows into new and deleted; writes nothing
        for tier in formset.deleted_objects:
            services.tier_delete(actor=request.user, tier=tier)
        for tier in formset.new_objects:
            services.tier_create(
                actor=request.user,
                program=form.instance,
                **{name: getattr(tier, name) for name in TIER_FIELDS},
            )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # No service deletes a program (it would take its referrers, referrals and rewards
        # with it): close it instead.
        return False


# --- referrers, referrals, rewards -----------------------------------------------------


@admin.register(Referrer)
class ReferrerAdmin(_ViewOnlyRecord):
    list_display = [
        "name",
        "email",
        "company",
        "code",
        "status",
        "source",
        "visits",
        "signups",
        "successful",
        "created_at",
    ]
    list_filter = ["program", "status", "source"]
    search_fields = ["email", "code"]
    search_help_text = "An exact email, or a referral code typed any way."
    fields = [
        "program",
        "name",
        "company",
        "email",
        "mailbox",
        "code",
        "referral_link",
        "status_page",
        "status",
        "source",
        "signup_address",
        "created_at",
        "confirmed_at",
        "visits",
        "signups",
        "successful",
        "wallet",
        "origin_import",
    ]

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        # On the unique code index, and the (program, email) one once a program is chosen.
        term = search_term.strip()
        if not term:
            return queryset, False
        found = Q(email=term.lower())
        code = _referral_code(term)
        if code:
            found |= Q(code=code)
        return queryset.filter(found), False

    @admin.display(description="Referral link")
    def referral_link(self, obj: Referrer) -> str:
        return links.referral_link(obj)

    @admin.display(description="Status page")
    def status_page(self, obj: Referrer) -> str:
        link = links.status_link(obj)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', link, link)


def _referral_code(term: str) -> str:
    """`term` as a well-formed referral code, or "" (most typos die on the check symbol)."""
    try:
        code = codelib.normalise(term)
    except codelib.CodeError:
        return ""
    if len(code) == REFERRAL_CODE_WIDTH and codelib.has_valid_check(code):
        return code
    return ""


@admin.register(Referral)
class ReferralAdmin(_ViewOnlyRecord):
    list_display = ["email", "referrer", "stage", "review", "flag_labels", "counted_at"]
    list_filter = ["review", "stage", "program"]
    list_select_related = ["referrer"]
    search_fields = ["email", "referrer__code"]
    search_help_text = "The referred email exactly, or the referrer's code typed any way."
    fields = [
        "program",
        "referrer",
        "referred",
        "email",
        "external_id",
        "stage",
        "review",
        "flag_labels",
        "counted_at",
        "created_at",
        "converted_at",
        "reviewed_at",
        "reviewed_by",
    ]
    actions = ["approve", "reject"]

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        found = Q(email=term.lower())
        code = _referral_code(term)
        if code:
            found |= Q(referrer__code=code)
        return queryset.filter(found), False

    @admin.display(description="Flags")
    def flag_labels(self, obj: Referral) -> str:
        return "; ".join(fraud.LABELS.get(flag, flag) for flag in obj.flags) or "–"

    @admin.action(description="Approve the selected referrals (they count)", permissions=["change"])
    def approve(self, request: HttpRequest, queryset) -> None:
        self.run_service(
            request,
            queryset,
            lambda referral: f"Referral of {referral.email}",
            lambda referral: services.referral_review(
                actor=request.user, referral=referral, approve=True
            ),
            "{count} referral(s) approved.",
        )

    @admin.action(
        description="Reject the selected referrals (they never count)", permissions=["change"]
    )
    def reject(self, request: HttpRequest, queryset) -> None:
        self.run_service(
            request,
            queryset,
            lambda referral: f"Referral of {referral.email}",
            lambda referral: services.referral_review(
                actor=request.user, referral=referral, approve=False
            ),
            "{count} referral(s) rejected.",
        )


@admin.register(Reward)
class RewardAdmin(_ViewOnlyRecord):
    list_display = ["tier", "email", "side", "state", "earned_at", "delivered_at"]
    list_filter = ["state", "side", "program"]
    list_select_related = ["tier"]
    search_fields = ["email"]
    search_help_text = "The email the reward is for, exactly."
    fields = [
        "program",
        "tier",
        "referrer",
        "side",
        "referral",
        "email",
        "state",
        "earned_at",
        "delivered_at",
        "revoked_at",
        "delivery",
        "delivery_error",
        "note",
        "code",
        "pass_obj",
        "wallet_transaction",
    ]
    actions = ["deliver", "revoke"]

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        term = search_term.strip()
        return (queryset.filter(email=term.lower()) if term else queryset), False

    @admin.action(description="Deliver the selected rewards", permissions=["change"])
    def deliver(self, request: HttpRequest, queryset) -> None:
        self.run_service(
            request,
            queryset.select_related("tier"),
            lambda reward: f"{reward.tier.name} for {reward.email}",
            lambda reward: services.reward_deliver(actor=request.user, reward=reward),
            "{count} reward(s) delivered.",
        )

    @admin.action(description="Revoke the selected rewards", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        self.run_service(
            request,
            queryset.select_related("tier"),
            lambda reward: f"{reward.tier.name} for {reward.email}",
            lambda reward: services.reward_revoke(actor=request.user, reward=reward),
            "{count} reward(s) revoked.",
        )


@admin.register(ReferrerImport)
class ReferrerImportAdmin(_ViewOnlyRecord):
    """The log of CSV imports of existing users; imports run from the program's staff pages.
    The checked rows (up to 200,000) are not shown."""

    list_display = [
        "id",
        "program",
        "file_name",
        "status",
        "total_rows",
        "issue_count",
        "already_members",
        "imported",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "program"]
    list_select_related = ["program", "created_by"]
    search_fields = ["file_name"]
    fields = [
        "program",
        "file_name",
        "status",
        "total_rows",
        "issue_count",
        "already_members",
        "send_welcome",
        "imported",
        "created_by",
        "created_at",
        "completed_at",
        "issue_list",
    ]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).defer("rows")

    @admin.display(description="Issues")
    def issue_list(self, obj: ReferrerImport) -> str:
        return _pretty_json(obj.issues) if obj.issues else "–"
