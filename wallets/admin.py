"""Wallets in the admin: to look at, not to edit. Money moves only through wallets.services."""

from django.contrib import admin

from core.pagination import EstimatedCountPaginator
from wallets.models import Wallet, WalletBalance, WalletTransaction


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BalanceInline(admin.TabularInline):
    model = WalletBalance
    fields = readonly_fields = ["name", "amount"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["id", "owner", "currency", "created_at", "claimed_at"]
    list_filter = ["currency"]
    list_select_related = ["owner"]
    search_fields = ["owner__username", "owner__email"]
    readonly_fields = ["owner", "currency", "created_at", "claimed_at"]
    exclude = ["claim_token", "page_token"]
    inlines = [BalanceInline]


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "wallet",
        "balance",
        "kind",
        "amount",
        "balance_after",
        "description",
        "created_at",
    ]
    list_filter = ["kind", "balance"]
    list_select_related = ["wallet__owner"]
    search_fields = ["=wallet__id", "=idempotency_key"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
