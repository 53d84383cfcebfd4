"""Pass plans and passes in the admin. A pass's lifecycle, expiry, value and PIN change only
through the API (PATCH /api/v1/passes/{code}), with an event for each change: here they are
read-only."""

from django.contrib import admin
from django.core.exceptions import ValidationError

from core import codes as codelib
from core.admin import ServiceAdminMixin
from core.pagination import EstimatedCountPaginator
from passes import services
from passes.models import Pass, PassBatch, PassEvent, PassPlan


@admin.register(PassPlan)
class PassPlanAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ["name", "type", "format", "status", "value_min", "currency", "quantity"]
    list_filter = ["type", "format", "status"]
    search_fields = ["name", "classification"]
    readonly_fields = ["status", "created_by", "created_at", "activated_at"]
    actions = ["activate"]

    def save_model(self, request, obj, form, change) -> None:
        data = {f: getattr(obj, f) for f in services.PLAN_FIELDS}
        if change:
            services.pass_plan_update(actor=request.user, plan=obj, **data)
        else:
            obj.pk = services.pass_plan_create(actor=request.user, **data).pk

    @admin.action(description="Activate the selected plans (printed plans generate their passes)")
    def activate(self, request, queryset) -> None:
        for plan in queryset:
            try:
                services.pass_plan_activate(actor=request.user, plan=plan)
            except (ValidationError, services.DomainError) as exc:
                self.message_user(request, f"{plan.name}: {getattr(exc, 'message', exc)}", "error")
            else:
                self.message_user(request, f"{plan.name} activated.")


class EventInline(admin.TabularInline):
    model = PassEvent
    fields = readonly_fields = ["type", "data", "actor", "created_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Pass)
class PassAdmin(admin.ModelAdmin):
    list_display = ["code", "plan", "status", "value", "currency", "expires_on", "contact"]
    list_filter = ["status", "plan"]
    list_select_related = ["plan", "contact"]
    search_fields = ["code"]
    show_full_result_count = False
    exclude = ["pin_hash"]
    inlines = [EventInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Pass._meta.fields if f.name != "pin_hash"]

    paginator = EstimatedCountPaginator

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        # A code typed any way, matched from its start on the unique index.
        normalised = codelib.normalise(search_term)
        if not normalised:
            return queryset, False
        return queryset.filter(code__startswith=normalised), False


@admin.register(PassBatch)
class PassBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "plan", "quantity", "generated", "status", "created_at"]
    # The PDF holds the PINs: it is downloaded from the plan's page, by those allowed to.
    exclude = ["pdf"]
    readonly_fields = [f.name for f in PassBatch._meta.fields if f.name != "pdf"]

    def has_add_permission(self, request) -> bool:
        return False
