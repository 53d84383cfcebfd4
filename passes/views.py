"""Public pass pages: redeem a pass, claim a nameless wallet, the mobile wallet page."""

from __future__ import annotations

import segno
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from core.errors import DomainError
from passes import services
from passes.forms import RegisterForm
from wallets import selectors as wallet_selectors
from wallets import services as wallet_services
from wallets.models import Wallet


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def redeem(request: HttpRequest) -> HttpResponse:
    """Enter a pass code (and PIN) → the gift is credited, or a nameless wallet made."""
    code = (request.POST.get("code") or request.GET.get("code") or "").strip()
    context: dict = {"code": code}
    if request.method == "POST":
        contact = request.user if request.user.is_authenticated else None
        try:
            redemption = services.pass_redeem(
                code=code, pin=request.POST.get("pin", ""), contact=contact, client=_client(request)
            )
        except services.PassRefused as exc:
            context["error"] = exc.message
        else:
            context["redemption"] = redemption
            credit = redemption.wallet_transaction
            context["wallet"] = credit.wallet if credit else None
    return render(request, "passes/redeem.html", context)


def wallet_page(request: HttpRequest, token: str) -> HttpResponse:
    """The mobile pass page: balance, recent transactions, a QR code to spend at a counter."""
    wallet = get_object_or_404(Wallet.objects.prefetch_related("balances"), page_token=token)
    qr = segno.make(f"wallet:{wallet.pk}:{wallet.page_token}", error="m")
    return render(
        request,
        "passes/wallet.html",
        {
            "wallet": wallet,
            "balances": wallet.balances.all(),
            "transactions": wallet_selectors.wallet_recent_transactions(wallet=wallet, limit=10),
            "qr": qr.svg_inline(scale=6, border=2, omitsize=True),
        },
    )


def wallet_claim(request: HttpRequest, token: str) -> HttpResponse:
    """The claim link of a nameless wallet: register (or log in) and the wallet is yours."""
    wallet = Wallet.objects.filter(claim_token=token).first()
    if wallet is None:
        return render(request, "passes/claim.html", {"gone": True}, status=404)
    form = RegisterForm(request.POST or None)
    if request.method == "POST":
        if request.user.is_authenticated:
            user = request.user
        elif form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        else:
            return render(request, "passes/claim.html", {"wallet": wallet, "form": form})
        try:
            wallet = wallet_services.wallet_claim(claim_token=token, user=user)
        except DomainError as exc:
            return render(request, "passes/claim.html", {"gone": True, "error": exc.message})
        return redirect("passes:wallet_page", token=wallet.page_token)
    return render(request, "passes/claim.html", {"wallet": wallet, "form": form})
