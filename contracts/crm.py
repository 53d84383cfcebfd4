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
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from contracts.models import Contract, Organisation, Participant
from core.errors import DomainError
from core.locks import advisory_xact_lock

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


# --- Organisations -----------------------------------------------------------------------


@transaction.atomic
def organisations_upsert(*, actor: User, items: list[dict], reason: str) -> list[ItemResult]:
    """Create or update organisations by `external_id`: items of external_id, name and,
    for a new organisation, code (upper-cased, unique)."""
    _check_size(items)
    advisory_xact_lock("crm:organisations")
    items = [
        {
            "external_id": item["external_id"].strip(),
            "name": item["name"].strip(),
            "code": (item.get("code") or "").strip().upper(),
        }
        for item in items
    ]
    errors = _duplicates(
        ((i, item["external_id"]) for i, item in enumerate(items)),
        "external_id",
        "This external_id",
    )
    errors += _duplicates(
        ((i, item["code"]) for i, item in enumerate(items) if item["code"]),
        "code",
        "This code",
    )
    by_external_id = {
        o.external_id: o
        for o in Organisation.objects.filter(external_id__in=[i["external_id"] for i in items])
    }
    by_code = {
        o.code: o
        for o in Organisation.objects.filter(code__in=[i["code"] for i in items if i["code"]])
    }
    planned = []
    for index, item in enumerate(items):
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
            planned.append((index, item["external_id"], Organisation(**values), CREATED))
        else:
            result = UPDATED if _apply(organisation, values) else UNCHANGED
            planned.append((index, item["external_id"], organisation, result))
    if errors:
        raise BatchInvalid(sorted(errors, key=lambda e: e.index))
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
    items: list[dict], within: Organisation | None, errors: list[ItemError]
) -> list[Organisation | None]:
    """The organisation each item names by external id: with a token for one organisation,
    that one (an item may leave it out); an id it cannot see is unknown, as one that does
    not exist, so a token learns nothing of other organisations."""
    wanted = {item.get("organisation") or "" for item in items} - {""}
    known = {o.external_id: o for o in Organisation.objects.filter(external_id__in=wanted)}
    found = []
    for index, item in enumerate(items):
        named = (item.get("organisation") or "").strip()
        if within is not None and not named:
            found.append(within)
            continue
        if not named:
            errors.append(
                ItemError(
                    index,
                    "organisation",
                    "Name the organisation (its external id): this token is for every one.",
                )
            )
        organisation = known.get(named)
        if named and (organisation is None or (within and organisation.pk != within.pk)):
            errors.append(ItemError(index, "organisation", f"No organisation {named}."))
            organisation = None
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
    organisations = _organisations(items, within, errors)
    for organisation_id in sorted({o.pk for o in organisations if o is not None}):
        advisory_xact_lock(f"crm:contracts:{organisation_id}")
    items = [
        {
            **item,
            "external_id": item["external_id"].strip(),
            "name": item["name"].strip(),
            "code": item["code"].strip().upper(),
        }
        for item in items
    ]
    keyed = [
        (i, (organisation.pk, item["external_id"]), (organisation.pk, item["code"]))
        for i, (organisation, item) in enumerate(zip(organisations, items, strict=True))
        if organisation is not None
    ]
    errors += _duplicates(((i, key) for i, key, _ in keyed), "external_id", "This external_id")
    errors += _duplicates(((i, code) for i, _, code in keyed), "code", "This code")
    existing = Contract.objects.filter(
        organisation__in={o.pk for o in organisations if o is not None}
    ).filter(
        models.Q(external_id__in=[i["external_id"] for i in items])
        | models.Q(code__in=[i["code"] for i in items])
    )
    by_external_id, by_code = {}, {}
    for contract in existing:
        if contract.external_id:
            by_external_id[(contract.organisation_id, contract.external_id)] = contract
        by_code[(contract.organisation_id, contract.code)] = contract
    planned = []
    for index, (organisation, item) in enumerate(zip(organisations, items, strict=True)):
        if organisation is None:
            continue
        contract = by_external_id.get((organisation.pk, item["external_id"]))
        holder = by_code.get((organisation.pk, item["code"]))
        if contract is None and holder is not None and not holder.external_id:
            contract = holder  # made by staff before the CRM knew it: take it over
        if holder is not None and (contract is None or holder.pk != contract.pk):
            errors.append(
                ItemError(
                    index,
                    "code",
                    f"{organisation.name} has another contract with code {item['code']}.",
                )
            )
            continue
        values = {"external_id": item["external_id"]} | {
            name: item[name] for name in CONTRACT_FIELDS if name in item
        }
        start = values.get("start_date", contract.start_date if contract else None)
        end = values.get("end_date", contract.end_date if contract else None)
        if start and end and end < start:
            errors.append(
                ItemError(index, "end_date", "The end date must be on or after the start date.")
            )
            continue
        if contract is None:
            new = Contract(
                organisation=organisation,
                participant_identifier=Contract.Identifier.REFERENCE,
                created_by=actor,
                **values,
            )
            planned.append((index, item["external_id"], new, CREATED))
        else:
            result = UPDATED if _apply(contract, values) else UNCHANGED
            planned.append((index, item["external_id"], contract, result))
    if errors:
        raise BatchInvalid(sorted(errors, key=lambda e: e.index))
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


def _participant_values(item: dict) -> dict:
    values = {name: item[name] for name in PARTICIPANT_FIELDS if name in item}
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = value.strip()
    values["email"] = values["email"].lower()
    return values


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
    organisations = _organisations(items, within, errors)
    pairs = {
        (o.pk, item["contract"].strip())
        for o, item in zip(organisations, items, strict=True)
        if o is not None
    }
    contracts = {
        (c.organisation_id, c.external_id): c
        for c in Contract.objects.filter(
            organisation__in={pk for pk, _ in pairs},
            external_id__in={ref for _, ref in pairs} - {""},
        )
    }
    targets: list[Contract | None] = []
    for index, (organisation, item) in enumerate(zip(organisations, items, strict=True)):
        contract = None
        if organisation is not None:
            contract = contracts.get((organisation.pk, item["contract"].strip()))
            if contract is None:
                errors.append(
                    ItemError(
                        index,
                        "contract",
                        f"{organisation.name} has no contract {item['contract'].strip()}.",
                    )
                )
        targets.append(contract)
    for contract_id in sorted({c.pk for c in targets if c is not None}):
        advisory_xact_lock(f"crm:participants:{contract_id}")
    references = [item["external_reference"].strip() for item in items]
    errors += _duplicates(
        (
            (i, (contract.pk, reference))
            for i, (contract, reference) in enumerate(zip(targets, references, strict=True))
            if contract is not None
        ),
        "external_reference",
        "This external_reference",
    )
    existing = {
        (p.contract_id, p.external_reference): p
        for p in Participant.objects.filter(
            contract__in={c.pk for c in targets if c is not None},
            external_reference__in=set(references),
        )
    }
    today = timezone.localdate()
    planned = []
    for index, (contract, reference, item) in enumerate(
        zip(targets, references, items, strict=True)
    ):
        if contract is None:
            continue
        values = _participant_values(item)
        born: date | None = values.get("date_of_birth")
        if born and born > today:
            errors.append(ItemError(index, "date_of_birth", "The date of birth is in the future."))
            continue
        participant = existing.get((contract.pk, reference))
        if participant is None:
            new = Participant(contract=contract, external_reference=reference, **values)
            planned.append((index, reference, new, CREATED))
        else:
            result = UPDATED if _apply(participant, values) else UNCHANGED
            planned.append((index, reference, participant, result))
    if errors:
        raise BatchInvalid(sorted(errors, key=lambda e: e.index))
    _write(
        Participant,
        new=[row for _, _, row, result in planned if result == CREATED],
        changed=[row for _, _, row, result in planned if result == UPDATED],
        fields=list(PARTICIPANT_FIELDS),
        reason=reason,
    )
    return _results(planned)
