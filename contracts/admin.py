"""Admin for plain data. Saves and deletes go through the same services as the staff pages."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from contracts import selectors, services
from contracts.models import Contract, ContractPrice, Organisation, Product
from core.admin import ServiceAdminMixin
from core.codes import CodeError, normalise_prefix


class ContractPriceInline(admin.TabularInline):
    """Shown for reference; prices are added and changed on their own pages."""

    model = ContractPrice
    extra = 0
    max_num = 0
    can_delete = False
    fields = readonly_fields = ["price_code", "product", "amount", "currency"]
    show_change_link = True


class OrganisationAdminForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["name", "code"]

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().upper()


@admin.register(Organisation)
class OrganisationAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    form = OrganisationAdminForm
    list_display = ["name", "code", "created_at"]
    search_fields = ["name", "code"]

    def save_model(self, request, obj, form, change) -> None:
        data = {"name": obj.name, "code": obj.code}
        if change:
            services.organisation_update(actor=request.user, organisation=obj, **data)
        else:
            obj.pk = services.organisation_create(actor=request.user, **data).pk

    def deletion_refusal(self, obj) -> str | None:
        return selectors.deletion_refusal(organisation=obj)

    def delete_with_service(self, request, obj) -> None:
        services.organisation_delete(actor=request.user, organisation=obj)


class ContractAdminForm(forms.ModelForm):
    class Meta:
        model = Contract
        fields = ["organisation", *services.CONTRACT_EDITABLE]

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().upper()

    def clean_invitation_prefix(self) -> str:
        try:
            return normalise_prefix(self.cleaned_data["invitation_prefix"])
        except CodeError as exc:
            raise ValidationError(str(exc)) from exc


@admin.register(Contract)
class ContractAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    form = ContractAdminForm
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

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "organisation"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        data = {field: getattr(obj, field) for field in services.CONTRACT_EDITABLE}
        if change:
            services.contract_update(actor=request.user, contract=obj, **data)
        else:
            contract = services.contract_create(
                actor=request.user, organisation=obj.organisation, **data
            )
            obj.pk = contract.pk

    def deletion_refusal(self, obj) -> str | None:
        return selectors.deletion_refusal(contract=obj)

    def delete_with_service(self, request, obj) -> None:
        services.contract_delete(actor=request.user, contract=obj)


@admin.register(Product)
class ProductAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "base_price", "currency"]
    search_fields = ["name", "description"]

    def save_model(self, request, obj, form, change) -> None:
        data = {
            "name": obj.name,
            "description": obj.description,
            "base_price": obj.base_price,
            "currency": obj.currency,
        }
        if change:
            services.product_update(actor=request.user, product=obj, **data)
        else:
            obj.pk = services.product_create(actor=request.user, **data).pk

    def deletion_refusal(self, obj) -> str | None:
        return selectors.product_deletion_refusal(product=obj)

    def delete_with_service(self, request, obj) -> None:
        services.product_delete(actor=request.user, product=obj)


class ContractPriceAdminForm(forms.ModelForm):
    class Meta:
        model = ContractPrice
        fields = ["contract", "product", "price_code", "amount", "currency"]

    def clean_price_code(self) -> str:
        try:
            return services.price_code_clean(self.cleaned_data["price_code"])
        except ValidationError as exc:
            raise ValidationError(exc.error_dict["price_code"]) from exc


@admin.register(ContractPrice)
class ContractPriceAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    form = ContractPriceAdminForm
    list_display = ["price_code", "contract", "product", "amount", "currency"]
    list_select_related = ["contract", "product"]
    search_fields = ["price_code", "contract__name", "product__name"]
    autocomplete_fields = ["contract", "product"]

    def get_readonly_fields(self, request, obj=None):
        return ["contract", "product"] if obj else []

    def save_model(self, request, obj, form, change) -> None:
        data = {"price_code": obj.price_code, "amount": obj.amount, "currency": obj.currency}
        if change:
            services.contract_price_update(actor=request.user, price=obj, **data)
        else:
            price = services.contract_price_create(
                actor=request.user, contract=obj.contract, product=obj.product, **data
            )
            obj.pk = price.pk

    def deletion_refusal(self, obj) -> str | None:
        return selectors.price_deletion_refusal(price=obj)

    def delete_with_service(self, request, obj) -> None:
        services.contract_price_delete(actor=request.user, price=obj)
