"""Shared admin pieces, the webhook endpoints and delivery log, and users' preferences."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from core import webhooks
from core.errors import DomainError
from core.models import UserPreference, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from core.pagination import EstimatedCountPaginator


class ServiceAdminMixin:
    """Admin saves and deletes go through the app's services, which may refuse.

    A refusal on save is shown as a message on the same page, with nothing written (the
    admin's view runs in one transaction). A refusal to delete is given before Django's
    confirmation page, which would otherwise list every protected row (a million codes
    included); bulk delete is off, since it would bypass the service.
    """

    def deletion_refusal(self, obj) -> str | None:
        """Why `obj` cannot be deleted, or None."""
        return None

    def delete_with_service(self, request: HttpRequest, obj) -> None:
        raise TypeError(f"{type(self).__name__} must say which service deletes its objects")

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changeform_view(
        self, request: HttpRequest, object_id=None, form_url="", extra_context=None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, DomainError) as exc:
            messages_ = exc.messages if isinstance(exc, ValidationError) else [exc.message]
            self.message_user(request, "Not saved: " + " ".join(messages_), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id, extra_context=None) -> HttpResponse:
        obj = self.get_object(request, object_id)
        refusal = obj is not None and self.deletion_refusal(obj)
        if not refusal:
            try:
                return super().delete_view(request, object_id, extra_context)
            except DomainError as exc:  # refused between the check and the delete
                refusal = exc.message
        self.message_user(request, refusal, messages.ERROR)
        opts = self.model._meta
        return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj) -> None:
        self.delete_with_service(request, obj)


# --- webhooks --------------------------------------------------------------------------


def _can_resend(request: HttpRequest) -> bool:
    return request.user.has_perm("core.change_webhookdelivery")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Where events go. The signing secret is shown whole only to those who may change
    endpoints: with it anyone could forge our events to the receiver."""

    list_display = ["url", "name", "events", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:  # the secret is drawn when the endpoint is saved
            return ["url", "name", "events", "is_active"]
        secret = "secret" if self.has_change_permission(request, obj) else "masked_secret"
        return ["url", "name", "events", "is_active", secret, "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ["secret", "masked_secret", "created_at"]

    @admin.display(description="Secret")
    def masked_secret(self, obj: WebhookEndpoint) -> str:
        return f"{obj.secret[:6]}…{obj.secret[-4:]}"

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Deleting an endpoint would delete its delivery log with it: deactivate it instead.
        if obj is not None and obj.deliveries.exists():
            return False
        return super().has_delete_permission(request, obj)


class RecentEventFilter(admin.SimpleListFilter):
    """Events to filter by, from the latest deliveries: Django's own filter would run a
    SELECT DISTINCT over the whole log on every page view. Core knows no domain's event
    names; an older event is still found with ?event=<name>."""

    title = "event"
    parameter_name = "event"
    RECENT = 1000

    def lookups(self, request, model_admin):
        recent = WebhookDelivery.objects.order_by("-pk").values_list("event", flat=True)
        events = sorted(set(recent[: self.RECENT]))
        chosen = self.value()
        if chosen and chosen not in events:
            events.append(chosen)
        return [(event, event) for event in events]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event=self.value())
        return queryset


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = readonly_fields = ["at", "status_code", "error", "duration_ms"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The log of what receivers were told: read here, never added or deleted. Resend
    (an action, and a button on a delivery's page) sends one again with the same event id,
    through core.webhooks."""

    list_display = [
        "event",
        "endpoint",
        "status",
        "attempts",
        "created_at",
        "delivered_at",
        "next_attempt_at",
    ]
    list_filter = ["status", RecentEventFilter]
    list_select_related = ["endpoint"]
    search_fields = ["event_id"]
    search_help_text = "An event id (evt_…), exactly as the receiver got it."
    fields = [
        "event",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "resent_by",
        "resent_at",
        "payload_pretty",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["resend"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-pk"]

    def get_search_results(self, request, queryset, search_term):
        # The unique index answers an exact id; Django's "=" would compare UPPER()s.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(event_id=term), False

    @admin.display(description="Payload")
    def payload_pretty(self, obj: WebhookDelivery) -> str:
        text = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # "Change" is Resend, on the list and through the button; the record itself is
        # shown read-only (Django's view permission covers change-permitted users).
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/resend/",
                self.admin_site.admin_view(self.resend_view),
                name=f"{opts.app_label}_{opts.model_name}_resend",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_resend": _can_resend(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def resend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not _can_resend(request):
            raise PermissionDenied
        delivery = self.get_object(request, object_id)
        if delivery is None:
            raise Http404("No such delivery.")
        attempts = delivery.attempts
        try:
            delivery = webhooks.webhook_delivery_resend(actor=request.user, delivery=delivery)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.WARNING)
            return redirect(reverse("admin:core_webhookdelivery_change", args=[delivery.pk]))
        # With a broker the attempt is a worker's; without one it has been made already.
        if delivery.status == WebhookDelivery.Status.DELIVERED:
            self.message_user(request, "Sent again, and delivered.")
        elif delivery.attempts > attempts:
            self.message_user(
                request,
                "Sent again, not delivered: the last attempt below says why. It is retried "
                "with backoff.",
                messages.WARNING,
            )
        else:
            self.message_user(request, "Queued to be sent again.")
        return redirect(reverse("admin:core_webhookdelivery_change", args=[delivery.pk]))

    @admin.action(description="Resend the selected deliveries", permissions=["change"])
    def resend(self, request: HttpRequest, queryset) -> None:
        sent = busy = 0
        for delivery in queryset.order_by("pk"):
            try:
                webhooks.webhook_delivery_resend(actor=request.user, delivery=delivery)
                sent += 1
            except DomainError:
                busy += 1
        self.message_user(request, f"{sent} deliveries sent again.")
        if busy:
            self.message_user(
                request, f"{busy} were being sent right now and were left alone.", messages.WARNING
            )


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "time_zone"]
    search_fields = ["user__username", "user__email", "time_zone"]
    autocomplete_fields = ["user"]
