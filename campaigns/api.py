"""Inbound text messages from the SMS provider: a STOP reply opts its sender out."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import services


def _text(data, name: str, *, required: bool) -> str:
    value = data.get(name, "") if isinstance(data, dict) else None
    if value is None or not isinstance(value, str) or (required and not value.strip()):
        raise serializers.ValidationError({name: ["Send it as a string."]})
    return value


class InboundSmsOutput(serializers.Serializer):
    stop = serializers.BooleanField(help_text="Whether the message asked to stop.")
    opted_out = serializers.IntegerField(help_text="Participants opted out by it now.")


class InboundSmsApi(APIView):
    """The SMS provider posts each reply here: `{"from": "+44…", "body": "STOP"}` with
    `Authorization: Bearer <SMS_INBOUND_TOKEN>`. Off (404) while that setting is empty."""

    authentication_classes: list = []
    permission_classes: list = []

    def _check_token(self, request: Request) -> None:
        expected = settings.SMS_INBOUND_TOKEN
        if not expected:
            raise Http404
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise AuthenticationFailed("The inbound SMS token is missing or wrong.")

    @extend_schema(
        request={
            "application/json": {
                "type": "object",
                "properties": {"from": {"type": "string"}, "body": {"type": "string"}},
            }
        },
        responses={
            200: InboundSmsOutput,
            400: OpenApiResponse(description="No sender, or one not in E.164 form"),
            401: OpenApiResponse(description="The token is missing or wrong"),
            404: OpenApiResponse(description="Inbound SMS is not configured"),
        },
        summary="A text message from a participant (STOP opts them out)",
    )
    def post(self, request: Request) -> Response:
        self._check_token(request)
        phone = _text(request.data, "from", required=True)
        text = _text(request.data, "body", required=False)
        try:
            opted = services.participants_sms_opt_out(phone=phone, text=text)
        except ValidationError as exc:
            return Response(exc.message_dict, status=400)
        return Response({"stop": services.is_stop_message(text), "opted_out": opted})

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="sms-inbound"'
