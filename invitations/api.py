"""The code API (validate and redeem, thin views over invitations.services) and the CRM
change feeds of codes and bookings (over invitations.selectors)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from contracts.api_auth import CrmApiView
from contracts.models import ApiToken
from core import feeds, throttle
from core.access import has_perm_cached
from invitations import selectors, services
from invitations.models import Booking
from invitations.serializers import (
    BookingChangesOutput,
    BookingOutput,
    ChangesInput,
    CodeChangesOutput,
    CodeRedeemInput,
    CodeValidateInput,
    CodeValidateOutput,
    DeletedCodesOutput,
    RefusalOutput,
)
from invitations.services import PERSON_FIELDS, Client, Details, RedemptionRefused

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Up to 80 characters unique to this booking. Sent again with the same body, "
    "the first booking is returned (201, `Idempotent-Replayed: true`) and no use is taken "
    "twice; with another body, 409.",
)
KEY_MAX = 80


class CodesApi(APIView):
    """Limited per token (CODES_API_RATE); refusals never lock a client out."""

    throttle_classes = [throttle.CountingRateThrottle]
    throttle_scope = "codes"

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if not request.user.is_staff or not has_perm_cached(
            request.user, "invitations.add_booking"
        ):
            raise PermissionDenied(
                "Booking with codes needs a staff account with the “Can add booking” permission "
                "(roles Administrator, Contract manager, Support)."
            )


class CodeValidateApi(CodesApi):
    @extend_schema(
        request=CodeValidateInput,
        responses=CodeValidateOutput,
        summary="Whether a code can be booked with now, and why not (changes nothing)",
    )
    def post(self, request: Request) -> Response:
        data = CodeValidateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        person = Details.from_data(values) if any(values.get(n) for n in PERSON_FIELDS) else None
        found = None
        try:
            found = services.code_check(code=values["code"], details=person)
        except RedemptionRefused as exc:
            found, reason, detail = exc.code, exc.reason, exc.message
        else:
            reason, detail = None, "The code can be booked with."
        return Response(
            CodeValidateOutput(
                {
                    "valid": reason is None,
                    "reason": reason,
                    "detail": detail,
                    "code": found.display if found else None,
                    "contract": found.contract.name if found else None,
                    "product": found.price.product.name if found else None,
                    "price": found.price.amount if found else None,
                    "currency": found.price.currency if found else None,
                    "uses_left": found.uses_left if found else None,
                    "assigned": bool(found and found.participant_id),
                }
            ).data
        )


class CodeRedeemApi(CodesApi):
    @extend_schema(
        request=CodeRedeemInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: BookingOutput,
            400: OpenApiResponse(description="Invalid input; nothing was booked"),
            409: OpenApiResponse(description="The Idempotency-Key was used for another request"),
            422: OpenApiResponse(RefusalOutput, description="Refused, with the reason"),
        },
        summary="Book with a code for a person: exactly once",
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > KEY_MAX:
            return Response(
                {"detail": f"The Idempotency-Key can have at most {KEY_MAX} characters."},
                status=400,
            )
        data = CodeRedeemInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        body = json.dumps(values, sort_keys=True, default=str)
        client = Client(
            channel=Booking.Channel.API,
            address=throttle.client_address(request._request),
            user_agent=request.headers.get("User-Agent", ""),
            user=request.user,
        )
        try:
            booking = services.booking_redeem(
                code=values["code"],
                details=Details.from_data(values),
                client=client,
                # Per client: one integration's keys never meet another's.
                idempotency_key=f"api:{request.user.pk}:{key}" if key else "",
                request_hash=hashlib.sha256(body.encode()).hexdigest(),
                create_account=values["create_account"],
            )
        except services.IdempotencyConflict as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        except RedemptionRefused as exc:
            return Response(
                {"detail": exc.message, "reason": exc.reason},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        except ValidationError as exc:
            return Response(exc.message_dict, status=400)
        response = Response(BookingOutput(booking).data, status=201)
        if booking.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


# --- CRM change feeds ---------------------------------------------------------------------

FEED_PAGE_SIZE = 500
CHANGES_PARAMETERS = [
    OpenApiParameter(
        "since",
        OpenApiTypes.DATETIME,
        description="Changes at or after this time (ISO 8601 with a zone, e.g. "
        "2026-11-26T12:00:00Z). Left out: from the beginning.",
    ),
    OpenApiParameter(
        "cursor",
        OpenApiTypes.STR,
        description="Go on after the page that returned this `cursor` (or follow `next`).",
    ),
]
FEED_ERRORS = {
    400: OpenApiResponse(description="A malformed time, or a cursor not made by this feed"),
    401: OpenApiResponse(description="No API token, or an unknown or revoked one"),
    403: OpenApiResponse(description="The token lacks the read scope"),
}


class _ChangesApi(CrmApiView):
    """A page of what changed, oldest first: up to FEED_PAGE_SIZE rows after `cursor` (or
    from `since`), `next` while a full page came back, and always the `cursor` to keep.

    A token for one organisation sees its contracts' rows only.
    """

    scope = ApiToken.Scope.READ
    feed: str
    # The feed's selector: rows(organisation_id=, since=, after=, limit=) -> list.
    rows: Callable[..., list]

    def page(self, request: Request, output: type[serializers.Serializer]) -> Response:
        query = ChangesInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = query.validated_data.get("since")
        after = None
        if query.validated_data.get("cursor"):
            try:
                after = feeds.cursor_decode(self.feed, query.validated_data["cursor"])
            except feeds.BadCursor as exc:
                return Response({"cursor": [str(exc)]}, status=400)
        within = self.within(request)
        rows = self.rows(
            organisation_id=within.pk if within else None,
            since=since,
            after=after,
            limit=FEED_PAGE_SIZE + 1,
        )
        more = len(rows) > FEED_PAGE_SIZE
        rows = rows[:FEED_PAGE_SIZE]
        # Nothing new: the cursor stays where it was (none without one).
        cursor = query.validated_data.get("cursor")
        if rows:
            cursor = feeds.cursor_encode(
                self.feed, feeds.Position(rows[-1].updated_at, rows[-1].pk)
            )
        next_url = None
        if more:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", cursor)
        return Response(output({"results": rows, "next": next_url, "cursor": cursor}).data)


class CodeChangesApi(_ChangesApi):
    feed = "codes"
    rows = staticmethod(selectors.code_changes)

    @extend_schema(
        parameters=CHANGES_PARAMETERS,
        responses={200: CodeChangesOutput, **FEED_ERRORS},
        summary="Invitation codes changed since a time: made, booked, voided, edited",
    )
    def get(self, request: Request) -> Response:
        return self.page(request, CodeChangesOutput)


class BookingChangesApi(_ChangesApi):
    feed = "bookings"
    rows = staticmethod(selectors.booking_changes)

    @extend_schema(
        parameters=CHANGES_PARAMETERS,
        responses={200: BookingChangesOutput, **FEED_ERRORS},
        summary="Bookings made or voided since a time",
    )
    def get(self, request: Request) -> Response:
        return self.page(request, BookingChangesOutput)


class DeletedCodesApi(_ChangesApi):
    feed = "deleted-codes"
    rows = staticmethod(selectors.deleted_code_changes)

    @extend_schema(
        parameters=CHANGES_PARAMETERS,
        responses={200: DeletedCodesOutput, **FEED_ERRORS},
        summary="Invitation codes deleted since a time (only never-used codes can be deleted)",
    )
    def get(self, request: Request) -> Response:
        return self.page(request, DeletedCodesOutput)
