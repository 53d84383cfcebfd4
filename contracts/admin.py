from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from contracts import selectors, services
from contracts.models import Contract, ContractPrice, Organisation, Participant, Product
from core.admin import ServiceDeleteMixin


class ContractPriceInline(admin.TabularInline):
    """Shown for reference; prices are added and changed on their own pages."""

    model = ContractPrice
    extra = 0
    max_num = 0
    can_delete = False
    fields = readonly_fields = ["price_code", "product", "amount", "currency"]
    show_change_link = True


@admin.register(Organisation)
class OrganisationAdmin(ServiceDeleteMixin, SimpleHistoryAdmin):
    list_display = ["name", "code", "created_at"]
    search_fields = ["name", "code"]

    def deletion_refusal(self, obj):
        return selectors.deletion_refusal(organisation=obj)

    def delete_with_service(self, request, obj):
        services.organisation_delete(actor=request.user, organisation=obj)


@admin.register(Contract)
class ContractAdmin(ServiceDeleteMixin, SimpleHistoryAdmin):
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

    def deletion_refusal(self, obj):
        return selectors.deletion_refusal(contract=obj)

    def delete_with_service(self, request, obj):
        services.contract_delete(actor=request.user, contract=obj)


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):
    list_display = ["name", "base_price", "currency"]
    search_fields = ["name", "description"]


@admin.register(ContractPrice)
class ContractPriceAdmin(ServiceDeleteMixin, SimpleHistoryAdmin):
    list_display = ["price_code", "contract", "product", "amount", "currency"]
    list_select_related = ["contract", "product"]
    search_fields = ["price_code", "contract__name", "product__name"]
    autocomplete_fields = ["contract", "product"]

    def deletion_refusal(self, obj):
        return selectors.price_deletion_refusal(price=obj)

    def delete_with_service(self, request, obj):
        services.contract_price_delete(actor=request.user, price=obj)


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
