from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from core.admin import ServiceAdminMixin
from core.pagination import EstimatedCountPaginator
from invitations import selectors, services
from invitations.models import CodeBatch, InvitationCode


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
        "created_at",
    ]
    readonly_fields = ["code", "contract", "price", "participant", "batch", "uses", "created_at"]
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
