from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from core.admin import ServiceDeleteMixin
from core.pagination import EstimatedCountPaginator
from invitations import selectors, services
from invitations.models import CodeBatch, InvitationCode


@admin.register(InvitationCode)
class InvitationCodeAdmin(ServiceDeleteMixin, SimpleHistoryAdmin):
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
    readonly_fields = ["code", "contract", "batch", "uses", "created_at"]
    raw_id_fields = ["participant", "price"]
    # A million rows: no full COUNT(*) per page view, and a planner estimate for paging.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ["-id"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return queryset.filter(selectors.code_search_filter(search_term)), False

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
