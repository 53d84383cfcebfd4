from django import forms
from django.contrib import admin
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ImportForm
from simple_history.admin import SimpleHistoryAdmin

from contracts import selectors as contract_selectors
from contracts import services as contract_services
from contracts.models import Contract, Participant
from core.admin import ServiceAdminMixin
from core.pagination import EstimatedCountPaginator
from invitations import selectors, services
from invitations.models import (
    Booking,
    BookingVoid,
    CodeBatch,
    DeletedCode,
    InvitationCode,
    ParticipantImport,
    RedemptionAttempt,
)
from invitations.resources import ParticipantResource, SpreadsheetCSV


@admin.register(InvitationCode)
class InvitationCodeAdmin(ServiceAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "code",
        "contract",
        "price",
        "participant",
        "status",
        "is_archived",
        "uses",
        "max_uses",
        "valid_until",
        "created_at",
    ]
    list_filter = ["status", "is_archived", "contract"]
    list_select_related = ["contract", "price__product", "participant"]
    search_fields = ["code"]
    search_help_text = "A code typed any way: lower case, spaces, hyphens, O for 0."
    # The price and participant change on the staff pages, where the contract's own
    # choices are offered; here they are shown only.
    fields = [
        "code",
        "contract",
        "price",
        "participant",
        "batch",
        "status",
        "is_archived",
        "uses",
        "max_uses",
        "valid_from",
        "valid_until",
        "allowed_regions",
        "allowed_groups",
        "one_per_person",
        "is_shared",
        "label",
        "created_at",
    ]
    readonly_fields = [
        "code",
        "contract",
        "price",
        "participant",
        "batch",
        "uses",
        "is_shared",
        "label",
        "created_at",
    ]
    # A million rows: no full COUNT(*) per page view, and a planner estimate for paging.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ["-id"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return queryset.filter(selectors.code_search_filter(search_term)), False

    def save_model(self, request, obj, form, change) -> None:
        services.code_update(
            actor=request.user,
            code=obj,
            price=obj.price,
            max_uses=obj.max_uses,
            valid_from=obj.valid_from,
            valid_until=obj.valid_until,
            status=obj.status,
            allowed_regions=obj.allowed_regions,
            allowed_groups=obj.allowed_groups,
            one_per_person=obj.one_per_person,
        )
        if "is_archived" in form.changed_data:
            services.code_archive(actor=request.user, code=obj, archived=obj.is_archived)

    def deletion_refusal(self, obj):
        return selectors.code_deletion_refusal(code=obj)

    def delete_with_service(self, request, obj):
        services.code_delete(actor=request.user, code=obj)

    def has_add_permission(self, request):
        return False  # codes are generated in batches: Contract → Invitation Codes → Generate Codes


@admin.register(CodeBatch)
class CodeBatchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "contract",
        "price",
        "quantity",
        "generated",
        "width",
        "status",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["contract", "price", "created_by"]
    search_fields = ["contract__name", "note"]
    readonly_fields = [f.name for f in CodeBatch._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ParticipantAdminImportForm(ImportForm):
    contract = forms.ModelChoiceField(
        queryset=Contract.objects.order_by("name"),
        help_text="The contract the participants belong to. To issue invitation codes from a "
        "Price Code column, use the contract's Participants page → Upload CSV.",
    )


class ParticipantAdminConfirmImportForm(ConfirmImportForm):
    contract = forms.ModelChoiceField(queryset=Contract.objects.all(), widget=forms.HiddenInput)


@admin.register(Participant)
class ParticipantAdmin(ImportExportMixin, ServiceAdminMixin, SimpleHistoryAdmin):
    """Import and export in the participant CSV format; every save goes through the services."""

    resource_classes = [ParticipantResource]
    formats = [SpreadsheetCSV]
    import_form_class = ParticipantAdminImportForm
    confirm_form_class = ParticipantAdminConfirmImportForm
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
    list_filter = ["contract"]
    search_fields = ["last_name", "first_name", "email", "external_reference"]
    autocomplete_fields = ["contract"]

    def get_readonly_fields(self, request, obj=None):
        return ["contract"] if obj else []

    def has_export_permission(self, request) -> bool:
        # The export holds every participant's invitation code: as for the staff pages'
        # Download CSV, viewing participants is not enough.
        return request.user.has_perms(
            ["contracts.view_participant", "invitations.export_invitationcode"]
        )

    def has_import_permission(self, request) -> bool:
        return request.user.has_perms(["contracts.add_participant", "contracts.change_participant"])

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["contract"] = import_form.cleaned_data["contract"].pk
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        kwargs = super().get_import_resource_kwargs(request, **kwargs)
        form = kwargs.pop("form", None)
        if form is not None and form.is_valid():
            kwargs["contract"] = form.cleaned_data["contract"]
        return kwargs

    def get_export_resource_kwargs(self, request, **kwargs):
        kwargs = super().get_export_resource_kwargs(request, **kwargs)
        kwargs.pop("form", None)
        return kwargs

    def save_model(self, request, obj, form, change) -> None:
        data = {field: getattr(obj, field) for field in contract_services.PARTICIPANT_FIELDS}
        if change:
            contract_services.participant_update(actor=request.user, participant=obj, **data)
        else:
            participant = contract_services.participant_create(
                actor=request.user, contract=obj.contract, **data
            )
            obj.pk = participant.pk

    def deletion_refusal(self, obj) -> str | None:
        return contract_selectors.participant_deletion_refusal(participant=obj)

    def delete_with_service(self, request, obj) -> None:
        contract_services.participant_delete(actor=request.user, participant=obj)


@admin.register(ParticipantImport)
class ParticipantImportAdmin(admin.ModelAdmin):
    """The log of participant CSV uploads; imports run from the contract's Participants page."""

    list_display = [
        "id",
        "contract",
        "original_name",
        "status",
        "rows",
        "issue_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["contract", "created_by"]
    search_fields = ["original_name", "contract__name"]
    readonly_fields = [f.name for f in ParticipantImport._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class _ReadOnlyLog(admin.ModelAdmin):
    """Bookings and attempts are the record for disputes: read here, never edited or deleted.

    Bookings are made on the registration page or through the API and voided on the
    contract's Bookings tab, with a reason.
    """

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BookingVoidInline(admin.StackedInline):
    model = BookingVoid
    can_delete = False
    extra = 0
    readonly_fields = ["reason", "use_freed", "voided_by", "voided_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Booking)
class BookingAdmin(_ReadOnlyLog):
    list_display = [
        "reference",
        "contract",
        "code",
        "participant",
        "amount",
        "currency",
        "status",
        "channel",
        "created_at",
    ]
    list_filter = ["status", "channel"]
    list_select_related = ["contract", "code", "participant"]
    search_fields = ["=reference", "=code__code", "participant__email"]
    inlines = [BookingVoidInline]


@admin.register(RedemptionAttempt)
class RedemptionAttemptAdmin(_ReadOnlyLog):
    """Every attempt, including typos and unknown codes, which belong to no contract."""

    list_display = ["created_at", "result", "code_typed", "contract", "email", "channel", "address"]
    list_filter = ["result", "channel"]
    list_select_related = ["contract"]
    search_fields = ["=code_typed", "=address", "email"]


@admin.register(DeletedCode)
class DeletedCodeAdmin(_ReadOnlyLog):
    """The record of deleted (never-used) codes, which the CRM's deletions feed reads."""

    list_display = ["code", "code_id", "contract_id", "organisation_id", "deleted_by", "updated_at"]
    search_fields = ["code"]
    list_select_related = ["deleted_by"]
