"""Public pass pages: redeem a pass, claim a nameless wallet, the mobile wallet page."""

from __future__ import annotations

import secrets

import segno
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from core import codes as codelib
from core import throttle
from core.errors import DomainError
from core.forms import add_service_errors
from passes import services
from passes.forms import GiftOrderForm, GiftRedeemForm, RegisterForm
from passes.models import GiftOrder, PassPlan
from passes.payments import PaymentsUnavailable, payment_backend
from wallets import selectors as wallet_selectors
from wallets import services as wallet_services
from wallets.models import Wallet, WalletTransaction


def _client(request: HttpRequest) -> str:
    return throttle.client_address(request)


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
            # A double click or a retry: the first answer (with a nameless wallet's claim
            # link, which is shown nowhere else) is shown again rather than "redeemed".
            earlier = request.session.get("redeemed", {}).get(codelib.normalise(code))
            if earlier:
                context = {"code": code, "again": True, **_redeemed_context(earlier)}
        else:
            credit = getattr(redemption, "wallet_transaction", None)
            if credit is not None:
                request.session.setdefault("redeemed", {})[redemption.pass_obj.code] = credit.pk
                request.session.modified = True
                context |= _redeemed_context(credit.pk)
            else:
                context["redemption"] = redemption
    return render(request, "passes/redeem.html", context)


def _redeemed_context(transaction_id: int) -> dict:
    credit = WalletTransaction.objects.select_related("wallet").get(pk=transaction_id)
    return {"redemption": credit.pass_redemption, "wallet": credit.wallet, "credit": credit}


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
        if not request.user.is_authenticated and not form.is_valid():
            return render(request, "passes/claim.html", {"wallet": wallet, "form": form})
        try:
            # A new account and the claim together: a claim refused keeps no account.
            with transaction.atomic():
                user = request.user if request.user.is_authenticated else form.save()
                wallet = wallet_services.wallet_claim(claim_token=token, user=user)
        except DomainError as exc:
            return render(request, "passes/claim.html", {"gone": True, "error": exc.message})
        if not request.user.is_authenticated:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("passes:wallet_page", token=wallet.page_token)
    return render(request, "passes/claim.html", {"wallet": wallet, "form": form})


def gift_buy(request: HttpRequest, pk: int) -> HttpResponse:
    """The landing page of a gift plan sold online: buy a pass and send it to someone."""
    plan = get_object_or_404(PassPlan, pk=pk, sold_online=True)
    try:
        backend = payment_backend()
    except PaymentsUnavailable as exc:
        return render(request, "passes/gift_buy.html", {"plan": plan, "unavailable": str(exc)})
    initial = {"value": plan.value_min, "request_token": secrets.token_urlsafe(24)}
    form = GiftOrderForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            order = services.gift_order_place(plan=plan, **form.cleaned_data)
        except (DomainError, ValidationError) as exc:
            add_service_errors(form, exc)
        else:
            return render(request, "passes/gift_sent.html", {"order": order, "payments": backend})
    return render(
        request,
        "passes/gift_buy.html",
        {"plan": plan, "form": form, "payments": backend, "on_sale": plan.status == "active"},
    )


def gift_landing(request: HttpRequest, token: str) -> HttpResponse:
    """The beneficiary's page: register (or log in) and redeem the gift into a wallet."""
    order = get_object_or_404(GiftOrder.objects.select_related("pass_obj", "plan"), token=token)
    form = GiftRedeemForm(request.POST or None)
    register = None if request.user.is_authenticated else RegisterForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid() and (register is None or register.is_valid()):
        pin, client = form.cleaned_data["pin"], _client(request)
        try:
            # The PIN first, on its own: a wrong one is counted whatever happens next.
            services.pass_verify(code=order.pass_obj.code, pin=pin, client=client)
            with transaction.atomic():
                user = register.save() if register is not None else request.user
                # Refused now (redeemed or expired meanwhile), the new account goes too.
                redemption = services.pass_redeem(
                    code=order.pass_obj.code, pin=pin, contact=user, client=client
                )
        except services.PassRefused as exc:
            error = exc.message
        else:
            if register is not None:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            wallet = redemption.wallet_transaction.wallet
            return redirect("passes:wallet_page", token=wallet.page_token)
    return render(
        request,
        "passes/gift_landing.html",
        {"order": order, "form": form, "register": register, "error": error},
    )
