"""Admin for plain data. Saves and deletes go through the same services as the staff pages."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from contracts import api_tokens, selectors, services
from contracts.models import ApiToken, Contract, ContractPrice, Organisation, Product
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
        fields = ["name", "code", "external_id", "webhook_endpoints"]

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip().upper()


@admin.register(Organisation)
class OrganisationAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    form = OrganisationAdminForm
    list_display = ["name", "code", "external_id", "created_at"]
    search_fields = ["name", "code", "=external_id"]
    filter_horizontal = ["webhook_endpoints"]

    def save_model(self, request, obj, form, change) -> None:
        data = {"name": obj.name, "code": obj.code, "external_id": obj.external_id}
        if change:
            services.organisation_update(actor=request.user, organisation=obj, **data)
        else:
            obj.pk = services.organisation_create(actor=request.user, **data).pk

    def save_related(self, request, form, formsets, change) -> None:
        services.organisation_endpoints_set(
            actor=request.user,
            organisation=form.instance,
            endpoints=form.cleaned_data["webhook_endpoints"],
        )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

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
    search_fields = ["name", "code", "organisation__name", "invitation_prefix", "=external_id"]
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


# --- API tokens ----------------------------------------------------------------------------


class ApiTokenAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiToken.Scope.READ],
    )

    class Meta:
        model = ApiToken
        fields = ["name", "organisation", "scopes"]


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Tokens for the CRM sync API, for Administrators (contracts.manage_api_tokens).

    Made here through contracts.api_tokens: the key is shown once, on the page after
    Save, and never again (only its hash is kept). Revoked, never deleted: the list is
    the record of who could call the API.
    """

    list_display = [
        "name",
        "prefix",
        "organisation_or_all",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["organisation", "created_by"]
    search_fields = ["name", "prefix", "organisation__name"]
    autocomplete_fields = ["organisation"]
    actions = ["revoke"]
    readonly_fields = [
        "name",
        "organisation",
        "scopes",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def _may_manage(self, request) -> bool:
        return request.user.is_active and request.user.has_perm(api_tokens.MANAGE)

    def has_module_permission(self, request) -> bool:
        return self._may_manage(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may_manage(request)

    def has_add_permission(self, request) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a token's settings are fixed: make a new one, revoke the old

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_manage_permission(self, request) -> bool:
        return self._may_manage(request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["name", "organisation", "scopes"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="Organisation")
    def organisation_or_all(self, obj: ApiToken) -> str:
        return obj.organisation.name if obj.organisation_id else "All organisations"

    def save_model(self, request, obj, form, change) -> None:
        token, key = api_tokens.api_token_create(
            actor=request.user,
            organisation=form.cleaned_data["organisation"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
        )
        obj.pk, obj.prefix, obj.created_at = token.pk, token.prefix, token.created_at
        obj.new_key = key  # for response_add only; never stored

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        response = TemplateResponse(
            request,
            "admin/contracts/apitoken/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "API token made",
                "token": obj,
                "key": obj.new_key,
            },
        )
        response["Cache-Control"] = "no-store"  # the key must not sit in a cache
        return response

    @admin.action(description="Revoke the selected tokens", permissions=["manage"])
    def revoke(self, request, queryset) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_tokens.api_token_revoke(actor=request.user, token=token)
            revoked += 1
        self.message_user(request, f"{revoked} token{'s' if revoked != 1 else ''} revoked.")
