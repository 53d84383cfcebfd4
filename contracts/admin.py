from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from contracts import selectors, services
from contracts.models import Contract, ContractPrice, Organisation, Participant, Product
from core.errors import DomainError


class ContractPriceInline(admin.TabularInline):
    model = ContractPrice
    extra = 0
    autocomplete_fields = ["product"]


class RefusingDeleteMixin:
    """Admin deletes go through the service, which refuses when codes or participants exist."""

    delete_service = None

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        # Refuse before Django's confirmation page lists every protected code.
        obj = self.get_object(request, object_id)
        refusal = obj and selectors.deletion_refusal(**{self.model._meta.model_name: obj})
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            return redirect(
                reverse(f"admin:contracts_{self.model._meta.model_name}_change", args=[obj.pk])
            )
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        try:
            type(self).delete_service(actor=request.user, **{self.model._meta.model_name: obj})
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(Organisation)
class OrganisationAdmin(RefusingDeleteMixin, SimpleHistoryAdmin):
    list_display = ["name", "code", "created_at"]
    search_fields = ["name", "code"]
    delete_service = services.organisation_delete


@admin.register(Contract)
class ContractAdmin(RefusingDeleteMixin, SimpleHistoryAdmin):
    list_display = [
        "name",
        "organisation",
        "code",
        "invitation_prefix",
        "status",
        "start_date",
        "end_date",
    ]
    list_filter = ["status", "currency"]
    list_select_related = ["organisation"]
    search_fields = ["name", "code", "organisation__name", "invitation_prefix"]
    autocomplete_fields = ["organisation"]
    inlines = [ContractPriceInline]
    readonly_fields = ["created_by", "created_at"]
    delete_service = services.contract_delete


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):
    list_display = ["name", "base_price", "currency"]
    search_fields = ["name", "description"]


@admin.register(ContractPrice)
class ContractPriceAdmin(SimpleHistoryAdmin):
    list_display = ["price_code", "contract", "product", "amount", "currency"]
    list_select_related = ["contract", "product"]
    search_fields = ["price_code", "contract__name", "product__name"]
    autocomplete_fields = ["contract", "product"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        try:
            services.contract_price_delete(actor=request.user, price=obj)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(Participant)
class ParticipantAdmin(SimpleHistoryAdmin):
    list_display = [
        "last_name",
        "first_name",
        "email",
        "contract",
        "external_reference",
        "group",
        "region",
    ]
    list_select_related = ["contract"]
    search_fields = ["last_name", "first_name", "email", "external_reference"]
    autocomplete_fields = ["contract"]
