"""CRM sync: organisations, contracts and participants upserted by their ids in the CRM.

Each upsert takes a batch (up to MAX_BATCH items), checks all of it against the database
first (a few reads for the whole batch, never one per item), and writes all of it in one
transaction, or nothing: a batch with any bad item raises BatchInvalid, naming each item
by its index and field. Sending the same batch again changes nothing and reports every
item unchanged. History is kept for every row written, as for staff edits.

Organisations are found by `external_id`, contracts by their organisation and
`external_id`, participants by their contract and `external_reference`. An organisation
or contract staff made before the CRM knew it (no external id yet) is taken over by its
code rather than made twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from contracts.models import Contract, Organisation, Participant
from core.errors import DomainError
from core.locks import advisory_xact_lock
from core.timezones import site_today

User = AbstractBaseUser | None

MAX_BATCH = 500
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass(frozen=True)
class ItemError:
    index: int | None  # None: about the batch as a whole
    field: str
    message: str


class BatchInvalid(DomainError):
    """Items of a batch are wrong; nothing was written."""

    def __init__(self, errors: list[ItemError]) -> None:
        count = len({e.index for e in errors})
        super().__init__(
            f"Nothing was written: {count} item{'s' if count != 1 else ''} "
            f"{'have' if count != 1 else 'has'} errors."
        )
        self.errors = errors


class BatchConflict(DomainError):
    """Someone else wrote the same rows at the same moment; nothing was written."""


@dataclass(frozen=True)
class ItemResult:
    index: int
    key: str  # the external id (or reference) the item was found by
    id: int
    result: str  # created, updated or unchanged


def _check_size(items: list) -> None:
    if not items:
        raise BatchInvalid([ItemError(None, "items", "Send at least one item.")])
    if len(items) > MAX_BATCH:
        raise BatchInvalid([ItemError(None, "items", f"Send at most {MAX_BATCH} items per call.")])


def _duplicates(keys: Iterable[tuple[int, object]], field: str, what: str) -> list[ItemError]:
    """An error for each item whose key an earlier item of the batch has."""
    first: dict[object, int] = {}
    errors = []
    for index, key in keys:
        if key in first:
            message = f"{what} is in this batch twice (first at item {first[key]})."
            errors.append(ItemError(index, field, message))
        else:
            first.setdefault(key, index)
    return errors


def _normalised(items: list[dict], required: tuple[str, ...], errors: list) -> list[dict | None]:
    """The items with their text trimmed; None for an item missing a required value, which
    is reported (and never looked up: an empty id would match every row without one)."""
    found = []
    for index, item in enumerate(items):
        clean = {k: v.strip() if isinstance(v, str) else v for k, v in item.items()}
        missing = [name for name in required if not clean.get(name)]
        errors += [ItemError(index, name, "This field is required.") for name in missing]
        found.append(None if missing else clean)
    return found


def _field_errors(index: int, row: models.Model, exclude: list[str]) -> list[ItemError]:
    """The model's own checks of the row's values (lengths, choices, email format), which
    ask the database nothing."""
    try:
        row.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return [
            ItemError(index, "item" if field == NON_FIELD_ERRORS else field, message)
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    return []


def _apply(row: models.Model, values: dict) -> bool:
    """Set `values` on `row`; True when any of them changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _write(
    model: type[models.Model],
    *,
    new: list[models.Model],
    changed: list[models.Model],
    fields: list[str],
    reason: str,
) -> None:
    """Insert and update in bulk with their history rows; a unique index that says no (a
    concurrent writer) becomes BatchConflict, with nothing written."""
    try:
        with transaction.atomic():
            if new:
                bulk_create_with_history(
                    new, model, batch_size=MAX_BATCH, default_change_reason=reason
                )
            if changed:
                bulk_update_with_history(
                    changed, model, fields, batch_size=MAX_BATCH, default_change_reason=reason
                )
    except IntegrityError as exc:
        raise BatchConflict(
            "Another change to the same records was saved at the same moment, so nothing "
            "was written: send the batch again (repeating a batch is safe)."
        ) from exc


def _results(rows: list[tuple[int, str, models.Model, str]]) -> list[ItemResult]:
    return [ItemResult(index, key, row.pk, result) for index, key, row, result in rows]


def _refuse_if(errors: list[ItemError]) -> None:
    if errors:
        raise BatchInvalid(sorted(errors, key=lambda e: (e.index, e.field)))


# --- Organisations -----------------------------------------------------------------------


@transaction.atomic
def organisations_upsert(*, actor: User, items: list[dict], reason: str) -> list[ItemResult]:
    """Create or update organisations by `external_id`: items of external_id, name and,
    for a new organisation, code (upper-cased, unique)."""
    _check_size(items)
    advisory_xact_lock("crm:organisations")
    errors: list[ItemError] = []
    items = _normalised(items, ("external_id", "name"), errors)
    for item in items:
        if item is not None:
            item["code"] = (item.get("code") or "").upper()
    given = [(i, item) for i, item in enumerate(items) if item is not None]
    errors += _duplicates(
        ((i, item["external_id"]) for i, item in given), "external_id", "This external_id"
    )
    errors += _duplicates(
        ((i, item["code"]) for i, item in given if item["code"]), "code", "This code"
    )
    by_external_id = {
        o.external_id: o
        for o in Organisation.objects.filter(external_id__in=[i["external_id"] for _, i in given])
    }
    by_code = {
        o.code: o
        for o in Organisation.objects.filter(code__in=[i["code"] for _, i in given if i["code"]])
    }
    planned = []
    for index, item in given:
        organisation = by_external_id.get(item["external_id"])
        holder = by_code.get(item["code"])
        if organisation is None and holder is not None and not holder.external_id:
            organisation = holder  # made by staff before the CRM knew it: take it over
        if holder is not None and (organisation is None or holder.pk != organisation.pk):
            errors.append(
                ItemError(index, "code", f"The code {item['code']} is another organisation's.")
            )
            continue
        values = {"external_id": item["external_id"], "name": item["name"]}
        if item["code"]:
            values["code"] = item["code"]
        if organisation is None:
            if not item["code"]:
                errors.append(ItemError(index, "code", "A new organisation needs a code."))
                continue
            row, result = Organisation(**values), CREATED
        else:
            row = organisation
            result = UPDATED if _apply(organisation, values) else UNCHANGED
        errors += _field_errors(index, row, exclude=["webhook_endpoints"])
        planned.append((index, item["external_id"], row, result))
    _refuse_if(errors)
    _write(
        Organisation,
        new=[row for _, _, row, result in planned if result == CREATED],
        changed=[row for _, _, row, result in planned if result == UPDATED],
        fields=["external_id", "name", "code"],
        reason=reason,
    )
    return _results(planned)


# --- Contracts ---------------------------------------------------------------------------

CONTRACT_FIELDS = ("name", "code", "status", "start_date", "end_date", "currency")


def _organisations(
    items: list[dict | None], within: Organisation | None, errors: list[ItemError]
) -> list[Organisation | None]:
    """The organisation each item names by external id: with a token for one organisation,
    that one (an item may leave it out). An id the token cannot see is answered as one that
    does not exist, so a token learns nothing of other organisations."""
    wanted = {item.get("organisation") or "" for item in items if item is not None} - {""}
    known = {o.external_id: o for o in Organisation.objects.filter(external_id__in=wanted)}
    found = []
    for index, item in enumerate(items):
        if item is None:  # not an object: _normalised reported it already
            found.append(None)
            continue
        named = item.get("organisation") or ""
        organisation = None
        if not named and within is not None:
            organisation = within
        elif not named:
            message = "Name the organisation (its external id): this token is for every one."
            errors.append(ItemError(index, "organisation", message))
        elif named in known and (within is None or known[named].pk == within.pk):
            organisation = known[named]
        else:
            errors.append(ItemError(index, "organisation", f"No organisation {named}."))
        found.append(organisation)
    return found


@transaction.atomic
def contracts_upsert(
    *, actor: User, items: list[dict], within: Organisation | None, reason: str
) -> list[ItemResult]:
    """Create or update contracts by organisation and `external_id`.

    Items: external_id, organisation (its external id; implied by a token for one
    organisation), name, code, and optionally status, start_date, end_date, currency
    (left out: kept, or the default for a new contract). A contract the CRM makes knows
    its participants by their external reference.
    """
    _check_size(items)
    errors: list[ItemError] = []
    items = _normalised(items, ("external_id", "name", "code"), errors)
    organisations = _organisations(items, within, errors)
    given = [
        (i, organisation, item | {"code": item["code"].upper()})
        for i, (organisation, item) in enumerate(zip(organisations, items, strict=True))
        if organisation is not None
    ]
    for organisation_id in sorted({organisation.pk for _, organisation, _ in given}):
        advisory_xact_lock(f"crm:contracts:{organisation_id}")
    errors += _duplicates(
        ((i, (o.pk, item["external_id"])) for i, o, item in given),
        "external_id",
        "This external_id",
    )
    errors += _duplicates(((i, (o.pk, item["code"])) for i, o, item in given), "code", "This code")
    existing = Contract.objects.filter(organisation__in={o.pk for _, o, _ in given}).filter(
        models.Q(external_id__in=[item["external_id"] for _, _, item in given])
        | models.Q(code__in=[item["code"] for _, _, item in given])
    )
    by_external_id, by_code = {}, {}
    for contract in existing:
        if contract.external_id:
            by_external_id[(contract.organisation_id, contract.external_id)] = contract
        by_code[(contract.organisation_id, contract.code)] = contract
    planned = []
    for index, organisation, item in given:
        contract = by_external_id.get((organisation.pk, item["external_id"]))
        holder = by_code.get((organisation.pk, item["code"]))
        if contract is None and holder is not None and not holder.external_id:
            contract = holder  # made by staff before the CRM knew it: take it over
        if holder is not None and (contract is None or holder.pk != contract.pk):
            message = f"{organisation.name} has another contract with code {item['code']}."
            errors.append(ItemError(index, "code", message))
            continue
        values = {"external_id": item["external_id"]} | {
            name: item[name] for name in CONTRACT_FIELDS if name in item
        }
        if contract is None:
            row, result = (
                Contract(
                    organisation=organisation,
                    participant_identifier=Contract.Identifier.REFERENCE,
                    created_by=actor,
                    **values,
                ),
                CREATED,
            )
        else:
            row = contract
            result = UPDATED if _apply(contract, values) else UNCHANGED
        if row.start_date and row.end_date and row.end_date < row.start_date:
            message = "The end date must be on or after the start date."
            errors.append(ItemError(index, "end_date", message))
        errors += _field_errors(index, row, exclude=["organisation", "created_by"])
        planned.append((index, item["external_id"], row, result))
    _refuse_if(errors)
    _write(
        Contract,
        new=[row for _, _, row, result in planned if result == CREATED],
        changed=[row for _, _, row, result in planned if result == UPDATED],
        fields=["external_id", *CONTRACT_FIELDS],
        reason=reason,
    )
    return _results(planned)


# --- Participants ------------------------------------------------------------------------

PARTICIPANT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "region",
    "group",
)


@transaction.atomic
def participants_upsert(
    *, actor: User, items: list[dict], within: Organisation | None, reason: str
) -> list[ItemResult]:
    """Create or update participants by contract and `external_reference`.

    Items: external_reference, contract (its external id), organisation (its external
    id; implied by a token for one organisation), first_name, last_name, email, and
    optionally phone, date_of_birth, region, group (left out: kept, or empty when new).
    """
    _check_size(items)
    errors: list[ItemError] = []
    required = ("external_reference", "contract", "first_name", "last_name", "email")
    items = _normalised(items, required, errors)
    organisations = _organisations(items, within, errors)
    named = [
        (i, organisation, item)
        for i, (organisation, item) in enumerate(zip(organisations, items, strict=True))
        if organisation is not None
    ]
    contracts = {
        (c.organisation_id, c.external_id): c
        for c in Contract.objects.filter(
            organisation__in={o.pk for _, o, _ in named},
            external_id__in={item["contract"] for _, _, item in named},
        )
    }
    given = []
    for index, organisation, item in named:
        contract = contracts.get((organisation.pk, item["contract"]))
        if contract is None:
            message = f"{organisation.name} has no contract {item['contract']}."
            errors.append(ItemError(index, "contract", message))
        else:
            given.append((index, contract, item))
    for contract_id in sorted({contract.pk for _, contract, _ in given}):
        advisory_xact_lock(f"crm:participants:{contract_id}")
    errors += _duplicates(
        ((i, (contract.pk, item["external_reference"])) for i, contract, item in given),
        "external_reference",
        "This external_reference",
    )
    existing = {
        (p.contract_id, p.external_reference): p
        for p in Participant.objects.filter(
            contract__in={contract.pk for _, contract, _ in given},
            external_reference__in={item["external_reference"] for _, _, item in given},
        )
    }
    today = site_today()
    planned = []
    for index, contract, item in given:
        reference = item["external_reference"]
        values = {name: item[name] for name in PARTICIPANT_FIELDS if name in item}
        values["email"] = values["email"].lower()
        born: date | None = values.get("date_of_birth")
        if born and born > today:
            errors.append(ItemError(index, "date_of_birth", "The date of birth is in the future."))
        participant = existing.get((contract.pk, reference))
        if participant is None:
            row = Participant(contract=contract, external_reference=reference, **values)
            result = CREATED
        else:
            row = participant
            result = UPDATED if _apply(participant, values) else UNCHANGED
        errors += _field_errors(index, row, exclude=["contract", "user"])
        planned.append((index, reference, row, result))
    _refuse_if(errors)
    _write(
        Participant,
        new=[row for _, _, row, result in planned if result == CREATED],
        changed=[row for _, _, row, result in planned if result == UPDATED],
        fields=list(PARTICIPANT_FIELDS),
        reason=reason,
    )
    return _results(planned)
