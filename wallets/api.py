"""The wallet API: thin views over wallets.services and wallets.selectors."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import DomainError
from wallets import selectors, services
from wallets.models import Wallet
from wallets.serializers import DebitInput, TransactionOutput, WalletOutput

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="A key unique to this debit (a till receipt number, say). Sent again with the "
    "same body, the first debit is returned and nothing is taken twice; with another body, "
    "409.",
)


def _error(message: str, code: int, **extra) -> Response:
    return Response({"detail": message, **extra}, status=code)


def _may_see(request: Request, wallet: Wallet) -> bool:
    return wallet.owner_id == request.user.pk or request.user.has_perm("wallets.view_wallet")


class WalletDetailApi(APIView):
    @extend_schema(responses=WalletOutput, summary="A wallet's balances and recent transactions")
    def get(self, request: Request, pk: int) -> Response:
        wallet = get_object_or_404(Wallet, pk=pk)
        if not _may_see(request, wallet):
            raise PermissionDenied("This is not your wallet.")
        wallet.recent_transactions = selectors.wallet_recent_transactions(wallet=wallet)
        return Response(WalletOutput(wallet).data)


class WalletDebitApi(APIView):
    @extend_schema(
        request=DebitInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: TransactionOutput,
            400: OpenApiResponse(description="Invalid input or no Idempotency-Key"),
            409: OpenApiResponse(description="The Idempotency-Key was used for another request"),
            422: OpenApiResponse(description="Not enough money; nothing was taken"),
        },
        summary="Spend from a wallet",
    )
    def post(self, request: Request, pk: int) -> Response:
        if not request.user.has_perm("wallets.debit_wallet"):
            raise PermissionDenied("Debiting wallets needs the “Can debit a wallet” permission.")
        wallet = get_object_or_404(Wallet, pk=pk)
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return _error("Send an Idempotency-Key header with each debit.", 400)
        data = DebitInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            transaction = services.wallet_debit(
                # Namespaced, so a client's key never meets one of ours ("pass:12").
                actor=request.user,
                wallet=wallet,
                idempotency_key=f"api:{key}",
                **data.validated_data,
            )
        except services.IdempotencyConflict as exc:
            return _error(exc.message, status.HTTP_409_CONFLICT)
        except services.InsufficientFunds as exc:
            return _error(exc.message, status.HTTP_422_UNPROCESSABLE_ENTITY)
        except DomainError as exc:
            return _error(exc.message, 400, **({"field": exc.field} if exc.field else {}))
        response = Response(TransactionOutput(transaction).data, status=201)
        if getattr(transaction, "replayed", False):
            response["Idempotent-Replayed"] = "true"
        return response
