"""The CRM sync API's upserts: organisations, contracts, participants, by external id.

Thin views over contracts.crm: parse the batch, check the token, call one service.
"""

from __future__ import annotations

from collections import Counter

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from contracts import crm
from contracts.api_auth import CrmApiView
from contracts.models import ApiToken
from contracts.serializers import (
    BatchErrorOutput,
    ContractsUpsertInput,
    ContractsUpsertOutput,
    OrganisationsUpsertInput,
    OrganisationsUpsertOutput,
    ParticipantsUpsertInput,
    ParticipantsUpsertOutput,
)

ERRORS = {
    400: OpenApiResponse(BatchErrorOutput, description="Nothing was written: the errors by item"),
    401: OpenApiResponse(description="No API token, or an unknown or revoked one"),
    403: OpenApiResponse(description="The token lacks the write scope, or this organisation"),
    409: OpenApiResponse(description="A concurrent change; nothing was written: send it again"),
}


def _per_item(value) -> list[tuple[int, dict | list]] | None:
    """Errors of `items` by item, if they are: {index: errors} (DRF 3.15 and later) or a
    list with an entry per item; None when they are about the list itself.

    An item's errors are a dict by field, or a list about the item as a whole (a null
    item: "This field may not be null.")."""
    pairs = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    if pairs and all(isinstance(i, int) and isinstance(e, dict | list) for i, e in pairs):
        return pairs
    return None


def _flatten(errors: dict) -> list[dict]:
    """The serializer's errors as {index, field, message}: per item where they are about
    one (index from 0), else about the batch (index null)."""
    whole = api_settings.NON_FIELD_ERRORS_KEY
    found = []
    for name, value in errors.items():
        per_item = _per_item(value) if name == "items" else None
        if per_item is not None:
            for index, item in per_item:
                if isinstance(item, list):
                    found += [(index, "item", message) for message in item]
                    continue
                for field, messages in item.items():
                    field = "item" if field == whole else field
                    found += [(index, field, message) for message in messages]
            continue
        messages = value.get(whole, value) if isinstance(value, dict) else value
        found += [(None, "items" if name == "items" else "body", m) for m in messages]
    return [{"index": i, "field": f, "message": str(m)} for i, f, m in found]


def _invalid(errors: list[dict]) -> Response:
    items = len({e["index"] for e in errors})
    detail = (
        f"Nothing was written: {items} item{'s' if items != 1 else ''} "
        f"{'have' if items != 1 else 'has'} errors."
    )
    return Response(
        BatchErrorOutput({"detail": detail, "errors": errors}).data,
        status=status.HTTP_400_BAD_REQUEST,
    )


def _upsert(request: Request, parser: type[serializers.Serializer], service, **options):
    data = parser(data=request.data)
    if not data.is_valid():
        return None, _invalid(_flatten(data.errors))
    try:
        results = service(actor=None, items=data.validated_data["items"], **options)
    except crm.BatchInvalid as exc:
        return None, _invalid(
            [{"index": e.index, "field": e.field, "message": e.message} for e in exc.errors]
        )
    except crm.BatchConflict as exc:
        return None, Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
    counts = Counter(r.result for r in results)
    summary = {name: counts.get(name, 0) for name in (crm.CREATED, crm.UPDATED, crm.UNCHANGED)}
    return summary | {"results": results}, None


class OrganisationsUpsertApi(CrmApiView):
    scope = ApiToken.Scope.WRITE

    @extend_schema(
        request=OrganisationsUpsertInput,
        responses={200: OrganisationsUpsertOutput, **ERRORS},
        summary="Create or update organisations by external id (a token for all organisations)",
    )
    def post(self, request: Request) -> Response:
        if self.within(request) is not None:
            raise PermissionDenied(
                "Only a token for all organisations upserts organisations; this one is for "
                f"{self.within(request).name}."
            )
        done, refused = _upsert(
            request,
            OrganisationsUpsertInput,
            crm.organisations_upsert,
            reason=self.reason(request),
        )
        return refused or Response(OrganisationsUpsertOutput(done).data)


class ContractsUpsertApi(CrmApiView):
    scope = ApiToken.Scope.WRITE

    @extend_schema(
        request=ContractsUpsertInput,
        responses={200: ContractsUpsertOutput, **ERRORS},
        summary="Create or update contracts by organisation and external id",
    )
    def post(self, request: Request) -> Response:
        done, refused = _upsert(
            request,
            ContractsUpsertInput,
            crm.contracts_upsert,
            within=self.within(request),
            reason=self.reason(request),
        )
        return refused or Response(ContractsUpsertOutput(done).data)


class ParticipantsUpsertApi(CrmApiView):
    scope = ApiToken.Scope.WRITE

    @extend_schema(
        request=ParticipantsUpsertInput,
        responses={200: ParticipantsUpsertOutput, **ERRORS},
        summary="Create or update participants by contract and external reference",
    )
    def post(self, request: Request) -> Response:
        done, refused = _upsert(
            request,
            ParticipantsUpsertInput,
            crm.participants_upsert,
            within=self.within(request),
            reason=self.reason(request),
        )
        return refused or Response(ParticipantsUpsertOutput(done).data)
