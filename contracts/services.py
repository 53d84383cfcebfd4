"""Every write to organisations, contracts, products and prices goes through here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from contracts import selectors
from contracts.models import Contract, ContractPrice, Organisation, Participant, Product
from core.codes import MAX_WIDTH, MIN_WIDTH, CodeError, normalise_prefix
from core.errors import refuse_if
from core.models import WebhookEndpoint
from core.timezones import site_today

User = AbstractBaseUser | None


def _unique(field: str, message: str, create):
    """Run `create` in a savepoint; a unique index that says no becomes a field error.

    The checks before it give the friendly message in the common case; this catches the
    concurrent one, where the index, not the check, decides.
    """
    try:
        with transaction.atomic():
            return create()
    except IntegrityError as exc:
        raise ValidationError({field: message}) from exc


def _clean_code(value: str) -> str:
    value = (value or "").strip().upper()
    if not value:
        raise ValidationError({"code": "Enter a code."})
    return value


def _clean_external_id(value: str | None, clash) -> str:
    """An external id as stored (trimmed); refused when `clash` (a queryset) finds it used."""
    value = (value or "").strip()
    if value and clash.filter(external_id=value).exists():
        raise ValidationError({"external_id": f"The external ID {value} is already used."})
    return value


@transaction.atomic
def organisation_create(
    *, actor: User, name: str, code: str, external_id: str = ""
) -> Organisation:
    """Create an organisation; its code is upper-cased and must be unused, as must its
    external ID (its id in the CRM), when it has one."""
    code = _clean_code(code)
    taken = f"The code {code} is already used by another organisation."
    if Organisation.objects.filter(code=code).exists():
        raise ValidationError({"code": taken})
    external_id = _clean_external_id(external_id, Organisation.objects.all())
    return _unique(
        "code",
        taken,
        lambda: Organisation.objects.create(name=name.strip(), code=code, external_id=external_id),
    )


@transaction.atomic
def organisation_update(
    *,
    actor: User,
    organisation: Organisation,
    name: str,
    code: str,
    external_id: str | None = None,
) -> Organisation:
    """Change an organisation's name and code (and its external ID, unless None)."""
    code = _clean_code(code)
    taken = f"The code {code} is already used by another organisation."
    if Organisation.objects.filter(code=code).exclude(pk=organisation.pk).exists():
        raise ValidationError({"code": taken})
    if external_id is not None:
        others = Organisation.objects.exclude(pk=organisation.pk)
        organisation.external_id = _clean_external_id(external_id, others)
    organisation.name = name.strip()
    organisation.code = code
    _unique("code", taken, lambda: organisation.save(update_fields=["name", "code", "external_id"]))
    return organisation


@transaction.atomic
def organisation_endpoints_set(
    *, actor: User, organisation: Organisation, endpoints: Iterable[WebhookEndpoint]
) -> Organisation:
    """Choose the webhook endpoints that receive the organisation's events."""
    organisation.webhook_endpoints.set(list(endpoints))
    return organisation


@transaction.atomic
def organisation_delete(*, actor: User, organisation: Organisation) -> None:
    """Delete an organisation and its contracts, unless any of them holds codes or participants."""
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    refuse_if(selectors.deletion_refusal(organisation=organisation))
    for contract in organisation.contracts.all():
        contract_delete(actor=actor, contract=contract)
    organisation.delete()


def _validate_contract_fields(
    *,
    invitation_prefix: str,
    start_date: date | None,
    end_date: date | None,
    default_code_width: int,
) -> str:
    try:
        prefix = normalise_prefix(invitation_prefix)
    except CodeError as exc:
        raise ValidationError({"invitation_prefix": str(exc)}) from exc
    if start_date and end_date and end_date < start_date:
        raise ValidationError({"end_date": "The end date must be on or after the start date."})
    if not MIN_WIDTH <= default_code_width <= MAX_WIDTH:
        raise ValidationError(
            {"default_code_width": f"Choose a width between {MIN_WIDTH} and {MAX_WIDTH}."}
        )
    return prefix


def _unique_contract_code(organisation: Organisation, code: str, exclude_pk: int | None) -> None:
    clash = Contract.objects.filter(organisation=organisation, code=code)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError(
            {"code": f"{organisation.name} already has a contract with code {code}."}
        )


@transaction.atomic
def contract_create(
    *,
    actor: User,
    organisation: Organisation,
    name: str,
    code: str,
    invitation_prefix: str = "",
    start_date: date | None = None,
    end_date: date | None = None,
    status: str = Contract.Status.DRAFT,
    currency: str = "EUR",
    default_code_width: int = 8,
    participant_identifier: str = Contract.Identifier.ID,
    is_closed_group: bool = False,
    max_bookings: int | None = None,
    max_bookings_per_day: int | None = None,
    budget_cap: Decimal | None = None,
    alert_emails: bool = False,
    external_id: str = "",
) -> Contract:
    """Create a contract for an organisation; the prefix is normalised to the code alphabet."""
    _check_quotas(max_bookings, max_bookings_per_day, budget_cap)
    code = _clean_code(code)
    external_id = _clean_external_id(external_id, organisation.contracts.all())
    prefix = _validate_contract_fields(
        invitation_prefix=invitation_prefix,
        start_date=start_date,
        end_date=end_date,
        default_code_width=default_code_width,
    )
    _unique_contract_code(organisation, code, None)
    return _unique(
        "code",
        f"{organisation.name} already has a contract with code {code}.",
        lambda: Contract.objects.create(
            organisation=organisation,
            name=name.strip(),
            code=code,
            invitation_prefix=prefix,
            start_date=start_date,
            end_date=end_date,
            status=status,
            currency=currency,
            default_code_width=default_code_width,
            participant_identifier=participant_identifier,
            is_closed_group=is_closed_group,
            max_bookings=max_bookings,
            max_bookings_per_day=max_bookings_per_day,
            budget_cap=budget_cap,
            alert_emails=alert_emails,
            external_id=external_id,
            created_by=actor,
        ),
    )


def _check_quotas(
    max_bookings: int | None, max_bookings_per_day: int | None, budget_cap: Decimal | None
) -> None:
    errors = {}
    for name, value in (
        ("max_bookings", max_bookings),
        ("max_bookings_per_day", max_bookings_per_day),
    ):
        if value is not None and value < 1:
            errors[name] = "Enter at least 1, or leave it empty for no limit."
    if budget_cap is not None and budget_cap <= 0:
        errors["budget_cap"] = "Enter an amount above zero, or leave it empty for no cap."
    if errors:
        raise ValidationError(errors)


CONTRACT_EDITABLE = (
    "name",
    "code",
    "invitation_prefix",
    "start_date",
    "end_date",
    "status",
    "currency",
    "default_code_width",
    "participant_identifier",
    "is_closed_group",
    "max_bookings",
    "max_bookings_per_day",
    "budget_cap",
    "alert_emails",
    "external_id",
)


@transaction.atomic
def contract_update(*, actor: User, contract: Contract, **fields) -> Contract:
    """Change a contract. Codes already generated keep the prefix they were made with."""
    unknown = set(fields) - set(CONTRACT_EDITABLE)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    values = {f: getattr(contract, f) for f in CONTRACT_EDITABLE} | fields
    _check_quotas(values["max_bookings"], values["max_bookings_per_day"], values["budget_cap"])
    values["code"] = _clean_code(values["code"])
    values["invitation_prefix"] = _validate_contract_fields(
        invitation_prefix=values["invitation_prefix"],
        start_date=values["start_date"],
        end_date=values["end_date"],
        default_code_width=values["default_code_width"],
    )
    _unique_contract_code(contract.organisation, values["code"], contract.pk)
    values["external_id"] = _clean_external_id(
        values["external_id"], contract.organisation.contracts.exclude(pk=contract.pk)
    )
    for field, value in values.items():
        setattr(contract, field, value)
    _unique(
        "code",
        f"{contract.organisation.name} already has a contract with code {values['code']}.",
        lambda: contract.save(update_fields=list(CONTRACT_EDITABLE)),
    )
    return contract


@transaction.atomic
def contract_delete(*, actor: User, contract: Contract) -> None:
    """Delete a contract with its prices and batch log, unless it holds codes or participants.

    The row lock waits for any chunk of codes being inserted to commit (the generator
    holds the contract FOR KEY SHARE), so the check below sees those codes too.
    """
    # Answer at once when a batch is running, rather than wait for it under the lock.
    refuse_if(selectors.generation_refusal(contracts=[contract]))
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    refuse_if(selectors.deletion_refusal(contract=contract))
    contract.delete()


@transaction.atomic
def contract_duplicate(*, actor: User, contract: Contract) -> Contract:
    """Copy a contract with its prices, as a draft: a starting point for a new contract."""
    # Room for "-COPY" and a number within the 40 characters of the code.
    base = f"{contract.code[:32]}-COPY"
    taken = set(
        Contract.objects.filter(
            organisation=contract.organisation, code__startswith=base
        ).values_list("code", flat=True)
    )
    n = 1
    while (code := base if n == 1 else f"{base}{n}") in taken:
        n += 1
    copy = _unique(
        "code",
        f"Another contract took the code {code} at the same moment: try again.",
        lambda: Contract.objects.create(
            organisation=contract.organisation,
            name=f"Copy of {contract.name}"[:200],
            code=code,
            invitation_prefix=contract.invitation_prefix,
            start_date=contract.start_date,
            end_date=contract.end_date,
            status=Contract.Status.DRAFT,
            currency=contract.currency,
            default_code_width=contract.default_code_width,
            participant_identifier=contract.participant_identifier,
            is_closed_group=contract.is_closed_group,
            created_by=actor,
        ),
    )
    ContractPrice.objects.bulk_create(
        ContractPrice(
            contract=copy,
            product_id=price.product_id,
            price_code=price.price_code,
            amount=price.amount,
            currency=price.currency,
        )
        for price in contract.prices.all()
    )
    return copy


@transaction.atomic
def product_create(
    *, actor: User, name: str, base_price: Decimal, currency: str = "EUR", description: str = ""
) -> Product:
    if base_price < 0:
        raise ValidationError({"base_price": "The base price cannot be negative."})
    return Product.objects.create(
        name=name.strip(), description=description, base_price=base_price, currency=currency
    )


@transaction.atomic
def product_update(
    *,
    actor: User,
    product: Product,
    name: str,
    base_price: Decimal,
    currency: str,
    description: str = "",
) -> Product:
    if base_price < 0:
        raise ValidationError({"base_price": "The base price cannot be negative."})
    product.name = name.strip()
    product.description = description
    product.base_price = base_price
    product.currency = currency
    product.save(update_fields=["name", "description", "base_price", "currency"])
    return product


def price_code_clean(price_code: str) -> str:
    """A price code as stored: trimmed, upper-case, safe to put in a spreadsheet cell."""
    price_code = (price_code or "").strip().upper()
    if not price_code:
        raise ValidationError({"price_code": "Enter a price code."})
    if price_code.startswith(("=", "+", "-", "@")):
        raise ValidationError(
            {
                "price_code": "A price code cannot start with = + - or @: "
                "spreadsheets would read it as a formula."
            }
        )
    if any(ch in price_code for ch in ",;\"'\t\r\n"):
        raise ValidationError(
            {"price_code": "A price code cannot hold commas, semicolons, quotes or tabs."}
        )
    return price_code


@transaction.atomic
def contract_price_create(
    *,
    actor: User,
    contract: Contract,
    product: Product,
    price_code: str,
    amount: Decimal,
    currency: str | None = None,
) -> ContractPrice:
    """Add a product to a contract at the contract's own price, under a unique price code."""
    price_code = price_code_clean(price_code)
    if amount < 0:
        raise ValidationError({"amount": "The amount cannot be negative."})
    if ContractPrice.objects.filter(contract=contract, price_code=price_code).exists():
        raise ValidationError({"price_code": f"This contract already has a price {price_code}."})
    try:
        with transaction.atomic():
            return ContractPrice.objects.create(
                contract=contract,
                product=product,
                price_code=price_code,
                amount=amount,
                currency=currency or contract.currency,
            )
    except IntegrityError as exc:  # a concurrent create took the code first
        raise ValidationError(
            {"price_code": f"This contract already has a price {price_code}."}
        ) from exc


@transaction.atomic
def contract_price_add(
    *,
    actor: User,
    contract: Contract,
    product: Product | None,
    price_code: str,
    amount: Decimal,
    currency: str | None = None,
    new_product_name: str = "",
    new_product_description: str = "",
    new_product_base_price: Decimal | None = None,
) -> ContractPrice:
    """Add Product / Price: an existing product, or a new one, at the contract's price.

    One transaction: a refused price leaves no new product behind.
    """
    if product is None:
        if not new_product_name.strip() or new_product_base_price is None:
            raise ValidationError(
                {"new_product_name": "Choose a product or name a new one with its base price."}
            )
        product = product_create(
            actor=actor,
            name=new_product_name,
            description=new_product_description,
            base_price=new_product_base_price,
            currency=currency or contract.currency,
        )
    return contract_price_create(
        actor=actor,
        contract=contract,
        product=product,
        price_code=price_code,
        amount=amount,
        currency=currency,
    )


@transaction.atomic
def contract_price_update(
    *, actor: User, price: ContractPrice, price_code: str, amount: Decimal, currency: str
) -> ContractPrice:
    price_code = price_code_clean(price_code)
    if amount < 0:
        raise ValidationError({"amount": "The amount cannot be negative."})
    clash = ContractPrice.objects.filter(contract=price.contract, price_code=price_code)
    if clash.exclude(pk=price.pk).exists():
        raise ValidationError({"price_code": f"This contract already has a price {price_code}."})
    price.price_code = price_code
    price.amount = amount
    price.currency = currency
    price.save(update_fields=["price_code", "amount", "currency"])
    return price


@transaction.atomic
def contract_price_delete(*, actor: User, price: ContractPrice) -> None:
    """Remove a price from a contract unless codes were generated against it."""
    refuse_if(selectors.generation_refusal(price=price))  # answer at once when busy
    price = ContractPrice.objects.select_for_update().get(pk=price.pk)  # waits for a chunk
    refuse_if(selectors.price_deletion_refusal(price=price))
    price.delete()


PARTICIPANT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "external_reference",
    "group",
    "region",
    "notes",
)


def _participant_values(contract: Contract, exclude_pk: int | None, **fields) -> dict:
    """Clean and check a participant's details; raise ValidationError naming the fields."""
    values = {field: fields.get(field) for field in PARTICIPANT_FIELDS}
    for field in PARTICIPANT_FIELDS:
        if field != "date_of_birth":
            values[field] = (values[field] or "").strip()
    values["email"] = values["email"].lower()
    errors = {
        field: "This field is required."
        for field in ("first_name", "last_name", "email")
        if not values[field]
    }
    born = values["date_of_birth"]
    if born and born > site_today():
        errors["date_of_birth"] = "The date of birth is in the future."
    reference = values["external_reference"]
    if reference:
        clash = contract.participants.filter(external_reference=reference)
        if exclude_pk:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            errors["external_reference"] = (
                f"Another participant of this contract has the reference {reference}."
            )
    if errors:
        raise ValidationError(errors)
    Participant(contract=contract, **values).full_clean(
        exclude=["contract"], validate_unique=False, validate_constraints=False
    )
    return values


@transaction.atomic
def participant_create(
    *,
    actor: User,
    contract: Contract,
    first_name: str,
    last_name: str,
    email: str,
    phone: str = "",
    date_of_birth: date | None = None,
    external_reference: str = "",
    group: str = "",
    region: str = "",
    notes: str = "",
) -> Participant:
    """Add a participant to a contract; an external reference is unique within the contract."""
    values = _participant_values(
        contract,
        None,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        date_of_birth=date_of_birth,
        external_reference=external_reference,
        group=group,
        region=region,
        notes=notes,
    )
    return _unique(
        "external_reference",
        "Another participant of this contract has this reference.",
        lambda: Participant.objects.create(contract=contract, **values),
    )


@transaction.atomic
def participant_update(*, actor: User, participant: Participant, **fields) -> Participant:
    """Change a participant's details (the contract stays)."""
    unknown = set(fields) - set(PARTICIPANT_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    current = {field: getattr(participant, field) for field in PARTICIPANT_FIELDS}
    values = _participant_values(participant.contract, participant.pk, **(current | fields))
    for field, value in values.items():
        setattr(participant, field, value)
    _unique(
        "external_reference",
        "Another participant of this contract has this reference.",
        lambda: participant.save(update_fields=list(PARTICIPANT_FIELDS)),
    )
    return participant


@transaction.atomic
def product_delete(*, actor: User, product: Product) -> None:
    """Delete a product that no contract prices."""
    refuse_if(selectors.product_deletion_refusal(product=product))
    product.delete()


@transaction.atomic
def participant_delete(*, actor: User, participant: Participant) -> None:
    """Delete a participant who holds no invitation code."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    refuse_if(selectors.participant_deletion_refusal(participant=participant))
    participant.delete()
