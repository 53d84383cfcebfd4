"""The pass API: thin views over passes.services."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import codes as codelib
from core import throttle
from core.errors import DomainError
from passes import services
from passes.models import Pass, PassPlan
from passes.serializers import (
    IssueInput,
    PassOutput,
    PassUpdateInput,
    PassWithPinOutput,
    PurchaseEventInput,
    PurchaseEventOutput,
    RedeemInput,
    RedemptionOutput,
)


def _refusal(exc: Exception) -> Response:
    if isinstance(exc, ValidationError):
        return Response(exc.message_dict, status=400)
    return Response({"detail": exc.message}, status=400)


def _with_pin(pass_obj: Pass, pin: str) -> dict:
    data = dict(PassOutput(pass_obj).data)
    if pin:
        data["pin"] = pin
    return data


class PassDetailApi(APIView):
    @extend_schema(responses=PassOutput, summary="A pass")
    def get(self, request: Request, code: str) -> Response:
        if not request.user.has_perm("passes.view_pass"):
            raise PermissionDenied()
        return Response(PassOutput(self._pass(code)).data)

    @extend_schema(
        request=PassUpdateInput,
        responses={200: PassWithPinOutput, 400: OpenApiResponse(description="Refused")},
        summary="Change a pass: lifecycle state, expiry, initial value, or reset its PIN",
    )
    def patch(self, request: Request, code: str) -> Response:
        if not request.user.has_perm("passes.change_pass"):
            raise PermissionDenied()
        pass_obj = self._pass(code)
        data = PassUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            updated, pin = services.pass_update(
                actor=request.user, pass_obj=pass_obj, **data.validated_data
            )
        except (ValidationError, DomainError) as exc:
            return _refusal(exc)
        return Response(_with_pin(updated, pin))

    def _pass(self, code: str) -> Pass:
        return get_object_or_404(Pass, code=codelib.normalise(code))


class PassRedeemApi(APIView):
    """Open to visitors as the redeem page is; a logged-in contact's wallet is credited."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=RedeemInput,
        responses={201: RedemptionOutput, 400: OpenApiResponse(description="Refused, and why")},
        summary="Redeem a pass",
    )
    def post(self, request: Request) -> Response:
        data = RedeemInput(data=request.data)
        data.is_valid(raise_exception=True)
        contact = request.user if request.user.is_authenticated else None
        try:
            redemption = services.pass_redeem(
                contact=contact,
                client=throttle.client_address(request._request),
                **data.validated_data,
            )
        except services.PassRefused as exc:
            return Response({"detail": exc.message}, status=400)
        credit = getattr(redemption, "wallet_transaction", None)
        wallet = credit.wallet if credit else None
        links = {}
        if wallet is not None:
            # The caller holds the only way back to a nameless wallet: give it the links.
            links["wallet_url"] = request.build_absolute_uri(
                reverse("passes:wallet_page", args=[wallet.page_token])
            )
            if wallet.is_nameless:
                links["claim_url"] = request.build_absolute_uri(
                    reverse("passes:wallet_claim", args=[wallet.claim_token])
                )
        return Response(
            RedemptionOutput(
                {
                    "code": redemption.pass_obj.code,
                    "wallet": wallet.pk if wallet else None,
                    "amount": credit.amount if credit else None,
                    "balance_after": credit.balance_after if credit else None,
                    "offer": redemption.offer,
                    **links,
                }
            ).data,
            status=201,
        )


class PassIssueApi(APIView):
    @extend_schema(
        request=IssueInput,
        responses={201: PassWithPinOutput, 400: OpenApiResponse(description="Refused")},
        summary="Issue an electronic pass of a plan (its PIN is in the answer, once)",
    )
    def post(self, request: Request, pk: int) -> Response:
        if not request.user.has_perm("passes.add_pass"):
            raise PermissionDenied()
        plan = get_object_or_404(PassPlan, pk=pk)
        data = IssueInput(data=request.data)
        data.is_valid(raise_exception=True)
        email = data.validated_data.get("email")
        contact = None
        if email:
            contact = get_user_model().objects.filter(email__iexact=email).first()
            if contact is None:
                return Response({"email": [f"No contact has the email {email}."]}, status=400)
        try:
            issued, pin = services.pass_issue(
                actor=request.user,
                plan=plan,
                contact=contact,
                value=data.validated_data.get("value"),
            )
        except (ValidationError, DomainError) as exc:
            return _refusal(exc)
        return Response(_with_pin(issued, pin), status=201)


class PurchaseEventApi(APIView):
    @extend_schema(
        request=PurchaseEventInput,
        responses={201: PurchaseEventOutput},
        summary="Report a purchase: matching promotion plans give the contact their codes",
    )
    def post(self, request: Request) -> Response:
        if not request.user.has_perm("passes.add_pass"):
            raise PermissionDenied()
        data = PurchaseEventInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        email = values.pop("contact_email").lower()
        user_model = get_user_model()
        contact = user_model.objects.filter(email__iexact=email).first()
        if contact is None:
            contact = user_model.objects.create_user(username=email, email=email)
        try:
            event = services.purchase_event_record(actor=request.user, contact=contact, **values)
        except (ValidationError, DomainError) as exc:
            return _refusal(exc)
        return Response(PurchaseEventOutput(event).data, status=201)
