"""The referral API: conversions reported by the business's own system."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import has_perm_cached
from core.errors import DomainError
from referrals import services
from referrals.models import ReferralProgram
from referrals.serializers import ConversionInput, ConversionOutput


class ConversionApi(APIView):
    @extend_schema(
        request=ConversionInput,
        responses={
            201: ConversionOutput,
            200: OpenApiResponse(
                ConversionOutput, description="Reported before: the same answer, nothing changed"
            ),
            400: OpenApiResponse(description="Invalid input"),
            404: OpenApiResponse(description="No such program"),
            409: OpenApiResponse(description="The external id was reported for another email"),
            422: OpenApiResponse(description="No referral of this email, and no referral_code"),
        },
        summary="Report a conversion of a referred person: idempotent by external_id",
    )
    def post(self, request: Request) -> Response:
        if not request.user.is_staff or not has_perm_cached(
            request.user, "referrals.change_referral"
        ):
            raise PermissionDenied(
                "Reporting conversions needs a staff account with the “Can change referral” "
                "permission (roles Administrator, Contract manager, Support)."
            )
        data = ConversionInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        program = ReferralProgram.objects.filter(slug=values["program"]).first()
        if program is None:
            return Response({"program": [f"No program {values['program']}."]}, status=404)
        try:
            referral, changed = services.referral_convert(
                actor=request.user,
                program=program,
                email=values["email"],
                external_id=values["external_id"],
                referral_code=values.get("referral_code", ""),
            )
        except services.ConversionConflict as exc:
            return Response({"detail": exc.message}, status=409)
        except DomainError as exc:
            return Response({"detail": exc.message}, status=422)
        except ValidationError as exc:
            return Response(exc.message_dict, status=400)
        response = Response(ConversionOutput(referral).data, status=201 if changed else 200)
        if not changed:
            response["Idempotent-Replayed"] = "true"
        return response
