"""Check every wallet: the sum of its ledger must equal its balance."""

from django.core.management.base import BaseCommand, CommandError

from core.money import format_money
from wallets import selectors
from wallets.models import Wallet


class Command(BaseCommand):
    help = "Compare every wallet balance with the sum of its ledger and report differences."

    def handle(self, *args, **options) -> None:
        differences = list(selectors.wallet_differences())
        currencies = dict(
            Wallet.objects.filter(pk__in={d.wallet_id for d in differences}).values_list(
                "pk", "currency"
            )
        )
        for d in differences:
            currency = currencies.get(d.wallet_id, "")
            self.stdout.write(
                f"wallet {d.wallet_id} ({d.balance}): balance "
                f"{format_money(d.cached, currency)}, ledger {format_money(d.ledger, currency)}, "
                f"difference {format_money(d.cached - d.ledger, currency)}"
            )
        checked = Wallet.objects.count()
        if differences:
            raise CommandError(
                f"{len(differences)} balance(s) differ from their ledger "
                f"({checked:,} wallets checked)."
            )
        self.stdout.write(
            self.style.SUCCESS(f"{checked:,} wallets checked: every ledger reconciles.")
        )
