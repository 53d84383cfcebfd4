"""Writes for invitation codes: batch generation, edits, archive, revoke, delete."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, models, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from contracts.models import Contract, ContractPrice
from core import codes as codelib
from core.errors import DomainError, refuse_if
from core.feeds import save_stamped
from core.locks import advisory_xact_lock
from invitations.models import CodeBatch, DeletedCode, InvitationCode, join_names
from invitations.selectors import code_deletion_refusal, existing_code_count
from invitations.services.schedules import check_release_at

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None

# Codes are inserted and committed this many at a time; the batch's progress moves
# with each chunk, and a resumed batch starts after the last committed chunk.
CHUNK_SIZE = 250_000
SQLITE_INSERT_CHUNK = 50_000


def check_batch_request(
    *,
    contract: Contract,
    price: ContractPrice,
    quantity: int,
    width: int,
    max_uses: int,
    valid_from: date | None,
    valid_until: date | None,
) -> codelib.GuessOdds:
    errors: dict[str, str] = {}
    if contract.status == Contract.Status.CLOSED:
        raise DomainError(f"The contract {contract.name} is closed: no new codes can be generated.")
    try:
        codelib.normalise_prefix(contract.invitation_prefix)
    except codelib.CodeError as exc:
        raise DomainError(f"The contract's Invitation Prefix is not valid: {exc}") from exc
    if price.contract_id != contract.pk:
        errors["price"] = "Choose one of this contract's prices."
    if not 1 <= quantity <= settings.CODE_BATCH_MAX_QUANTITY:
        errors["quantity"] = f"Enter a quantity between 1 and {settings.CODE_BATCH_MAX_QUANTITY:,}."
    if not codelib.MIN_WIDTH <= width <= codelib.MAX_WIDTH:
        errors["width"] = (
            f"Choose a code width between {codelib.MIN_WIDTH} and {codelib.MAX_WIDTH}."
        )
    if max_uses < 1:
        errors["max_uses"] = "A code must allow at least one use."
    if valid_from and valid_until and valid_until < valid_from:
        errors["valid_until"] = "“Valid until” must be on or after “valid from”."
    if errors:
        raise ValidationError(errors)
    return check_guess_odds(contract=contract, width=width, quantity=quantity)


def check_guess_odds(*, contract: Contract, width: int, quantity: int) -> codelib.GuessOdds:
    """Refuse `quantity` more codes of this width when they would make codes guessable.

    Callers hold the advisory lock on the prefix and width (see code_batch_create).
    """
    odds = codelib.GuessOdds(
        width=width,
        existing=existing_code_count(prefix=contract.invitation_prefix, width=width),
        quantity=quantity,
    )
    if not odds.safe:
        safe = odds.smallest_safe_width
        hint = f"Choose a width of at least {safe}." if safe else "Generate fewer codes at a time."
        raise ValidationError(
            {
                "width": (
                    f"With {odds.total:,} codes of width {width}, 1 in {odds.one_in:,} random "
                    f"guesses would hit a code; at least 1 in {codelib.MIN_GUESS_ODDS:,} is "
                    f"required. {hint}"
                )
            }
        )
    return odds


def code_batch_create(
    *,
    actor: User,
    contract: Contract,
    price: ContractPrice,
    quantity: int,
    width: int,
    max_uses: int = 1,
    valid_from: date | None = None,
    valid_until: date | None = None,
    allowed_regions: str = "",
    allowed_groups: str = "",
    one_per_person: bool = True,
    note: str = "",
    release_at: datetime | None = None,
) -> CodeBatch:
    """Record a batch and generate its codes: in the request when small, else in the background.

    With `release_at` (a future time) the codes cannot be booked until then: they are
    "scheduled" and the minute job releases them (invitations.services.schedules).

    The prefix and width are locked while the guess odds are checked and the batch
    recorded, so two batches started together, for this contract or any other sharing
    the prefix, cannot both squeeze under the density limit.
    """
    with transaction.atomic():
        # NO KEY UPDATE: does not wait for a batch being generated, which holds KEY SHARE.
        contract = Contract.objects.select_for_update(no_key=True).get(pk=contract.pk)
        advisory_xact_lock(f"code-odds:{contract.invitation_prefix}:{width}")
        check_batch_request(
            contract=contract,
            price=price,
            quantity=quantity,
            width=width,
            max_uses=max_uses,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        check_release_at(release_at)
        batch = CodeBatch.objects.create(
            contract=contract,
            price=price,
            prefix=contract.invitation_prefix,
            quantity=quantity,
            width=width,
            max_uses=max_uses,
            valid_from=valid_from if valid_from is not None else contract.start_date,
            valid_until=valid_until if valid_until is not None else contract.end_date,
            allowed_regions=join_names(allowed_regions),
            allowed_groups=join_names(allowed_groups),
            one_per_person=one_per_person,
            note=note.strip(),
            release_at=release_at,
            created_by=actor,
        )
        in_background = quantity > settings.CODE_BATCH_SYNC_LIMIT
        if in_background:
            from invitations.tasks import generate_code_batch

            batch_id = batch.pk
            transaction.on_commit(lambda: generate_code_batch.delay(batch_id))
    if in_background:
        # Without a broker the task has already run in-process by now.
        batch.refresh_from_db()
        return batch
    return code_batch_generate(batch_id=batch.pk)


def code_batch_generate(
    *, batch_id: int, randbytes: Callable[[int], bytes] | None = None
) -> CodeBatch:
    """Generate the codes a batch still lacks; safe to run again after a crash.

    The batch is cut into chunks; each chunk draws random codes, drops duplicates in
    memory, inserts them set-based (conflicts with existing codes are skipped by the
    unique index, never checked first), draws again for any shortfall, and commits
    together with the batch's progress. On PostgreSQL, outside a surrounding
    transaction, chunks are inserted over GENERATION_CONNECTIONS connections at once:
    index maintenance is most of the work, and the server does it on every core.
    """
    try:
        batch = CodeBatch.objects.select_related("contract").get(pk=batch_id)
    except CodeBatch.DoesNotExist:
        raise DomainError(
            f"Batch {batch_id} no longer exists: its contract or price was deleted."
        ) from None
    if batch.status == CodeBatch.Status.DONE:
        return batch
    CodeBatch.objects.filter(pk=batch_id).update(status=CodeBatch.Status.RUNNING)
    remaining = batch.quantity - batch.generated
    chunks = [min(CHUNK_SIZE, remaining - start) for start in range(0, remaining, CHUNK_SIZE)]
    workers = min(settings.GENERATION_CONNECTIONS, len(chunks))
    parallel = workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    try:
        if parallel:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda size: _generate_chunk_in_own_connection(batch, size), chunks))
        else:
            for size in chunks:
                _generate_chunk(batch, size, randbytes)
    except Exception as exc:
        CodeBatch.record_end(batch_id, exc)
        logger.exception("Code batch %s failed", batch_id)
        raise
    CodeBatch.record_end(batch_id)
    if batch.quantity >= 100_000 and connection.vendor == "postgresql":
        # Fresh statistics keep the planner's row estimates (and our page counts) right.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {InvitationCode._meta.db_table}")
    batch.refresh_from_db()
    return batch


DEADLOCK_RETRIES = 3


def _generate_chunk(
    batch: CodeBatch, wanted: int, randbytes: Callable[[int], bytes] | None = None
) -> int:
    """Insert `wanted` new codes for the batch and count them in its progress, all or nothing.

    Codes go in sorted, so two transactions that drew the same codes wait for each other
    in one order; should the server still report a deadlock, the chunk (which wrote
    nothing) is drawn and inserted again.
    """
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        try:
            return _generate_chunk_once(batch, wanted, randbytes)
        except OperationalError as exc:
            if attempt == DEADLOCK_RETRIES or not _is_deadlock(exc):
                raise
            logger.warning("Code batch %s: deadlock on a chunk, drawing it again", batch.pk)
    raise AssertionError("unreachable")


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "40P01"


def _generate_chunk_once(
    batch: CodeBatch, wanted: int, randbytes: Callable[[int], bytes] | None
) -> int:
    draw_options = {"randbytes": randbytes} if randbytes else {}
    with transaction.atomic():
        _hold_batch_parents(batch)
        inserted = 0
        attempts = 0
        while inserted < wanted:
            attempts += 1
            if attempts > 50:
                raise DomainError("Could not find enough unused codes: choose a wider code.")
            candidates = list(
                dict.fromkeys(
                    codelib.draw_codes(batch.prefix, batch.width, wanted - inserted, **draw_options)
                )
            )
            inserted += _insert_codes(batch, candidates)
        CodeBatch.objects.filter(pk=batch.pk).update(generated=F("generated") + inserted)
    return inserted


def _hold_batch_parents(batch: CodeBatch) -> None:
    """Keep the batch, its contract and price from being deleted while a chunk goes in.

    The codes carry no foreign-key constraint (see the model), so this stands in for it:
    a deletion waits for the chunk to commit and then sees its codes, and a chunk that
    starts after a deletion finds its parents gone and stops.
    """
    # The same order as the deleting services lock them: contract, then price, then batch.
    parents = [
        (Contract, batch.contract_id),
        (ContractPrice, batch.price_id),
        (CodeBatch, batch.pk),
    ]
    for model, pk in parents:
        if not hold_for_reference(model, pk):
            raise DomainError(
                f"Generation stopped: the {model._meta.verbose_name} was deleted meanwhile."
            )


def hold_for_reference(model: type[models.Model], pk: int) -> bool:
    """Lock a row against deletion until the transaction ends; False when it is gone.

    FOR KEY SHARE blocks DELETE (and the deleting services' FOR UPDATE) but not other
    holders nor ordinary updates. SQLite serialises writers: checking is enough there.
    """
    if connection.vendor != "postgresql":
        return model.objects.filter(pk=pk).exists()
    sql = f"SELECT 1 FROM {model._meta.db_table} WHERE id = %s FOR KEY SHARE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        return cursor.fetchone() is not None


def _generate_chunk_in_own_connection(batch: CodeBatch, wanted: int) -> int:
    try:
        return _generate_chunk(batch, wanted)
    finally:
        connection.close()  # the thread's own connection


def _insert_codes(batch: CodeBatch, candidates: list[str]) -> int:
    """Insert candidate codes for a batch, skipping any that exist; return how many went in."""
    if not candidates:
        return 0
    if connection.vendor == "postgresql":
        return _insert_codes_postgresql(batch, candidates)
    return _insert_codes_portable(batch, candidates)


def _row_values(batch: CodeBatch) -> list:
    """What every code of a batch shares, in the column order of the inserts below:
    contract, price, batch, status, max uses, valid from, valid until, created at, and the
    code rules: allowed regions, allowed groups, one booking per person."""
    # Read for every chunk: staff may move the release while a large batch generates.
    release_at = CodeBatch.objects.filter(pk=batch.pk).values_list("release_at", flat=True).first()
    values = [
        batch.contract_id,
        batch.price_id,
        batch.pk,
        # Scheduled until the release time; a chunk generated after it goes in active.
        InvitationCode.Status.SCHEDULED
        if release_at is not None and release_at > timezone.now()
        else InvitationCode.Status.ACTIVE,
        batch.max_uses,
        batch.valid_from,
        batch.valid_until,
        timezone.now(),
        batch.allowed_regions,
        batch.allowed_groups,
        batch.one_per_person,
    ]
    if connection.vendor != "postgresql":
        # Raw executemany on SQLite: dates and datetimes adapted as Django would.
        ops = connection.ops
        values[5] = ops.adapt_datefield_value(values[5])
        values[6] = ops.adapt_datefield_value(values[6])
        values[7] = ops.adapt_datetimefield_value(values[7])
    return values


def _insert_codes_postgresql(batch: CodeBatch, candidates: list[str]) -> int:
    table = InvitationCode._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE new_codes (code varchar(30)) ON COMMIT DROP")
        with cursor.cursor.copy("COPY new_codes (code) FROM STDIN") as copy:
            copy.write("\n".join(candidates) + "\n")
        cursor.execute(
            f"""
            INSERT INTO {table}
                (code, contract_id, price_id, batch_id, participant_id, status, is_archived,
                 uses, max_uses, valid_from, valid_until, created_at,
                 allowed_regions, allowed_groups, one_per_person)
            SELECT code, %s, %s, %s, NULL, %s, false, 0, %s, %s, %s, %s, %s, %s, %s
            FROM new_codes
            ORDER BY code COLLATE "C"  -- one order for every inserter; byte order sorts fast
            ON CONFLICT DO NOTHING
            """,
            _row_values(batch),
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE new_codes")
    return inserted


def _insert_codes_portable(batch: CodeBatch, candidates: list[str]) -> int:
    """SQLite: INSERT OR IGNORE in chunks; the connection's change counter says what went in.

    Plain executemany rather than bulk_create: building a model instance per code made
    a million codes take a minute instead of seven seconds.
    """
    table = InvitationCode._meta.db_table
    constants = _row_values(batch)
    sql = (
        f"INSERT OR IGNORE INTO {table} (code, contract_id, price_id, batch_id, participant_id, "
        "status, is_archived, uses, max_uses, valid_from, valid_until, created_at, "
        "allowed_regions, allowed_groups, one_per_person) "
        "VALUES (%s, %s, %s, %s, NULL, %s, 0, 0, %s, %s, %s, %s, %s, %s, %s)"
    )
    connection.ensure_connection()
    raw = connection.connection
    before = raw.total_changes
    with connection.cursor() as cursor:
        for start in range(0, len(candidates), SQLITE_INSERT_CHUNK):
            chunk = candidates[start : start + SQLITE_INSERT_CHUNK]
            cursor.executemany(sql, [(code, *constants) for code in chunk])
    return raw.total_changes - before


@transaction.atomic
def code_update(
    *,
    actor: User,
    code: InvitationCode,
    price: ContractPrice,
    max_uses: int,
    valid_from: date | None,
    valid_until: date | None,
    status: str,
    allowed_regions: str | None = None,
    allowed_groups: str | None = None,
    one_per_person: bool | None = None,
) -> InvitationCode:
    """Edit one code's price, use limit (None: none), validity window, status and rules."""
    code = InvitationCode.objects.select_for_update().get(pk=code.pk)
    errors = {}
    if price.contract_id != code.contract_id:
        errors["price"] = "Choose one of this contract's prices."
    elif price.pk != code.price_id and not hold_for_reference(ContractPrice, price.pk):
        errors["price"] = "This price was just deleted: choose another."
    if max_uses is not None and max_uses < max(code.uses, 1):
        errors["max_uses"] = (
            f"This code has been used {code.uses} time{'s' if code.uses != 1 else ''}: "
            f"the limit cannot be lower than {max(code.uses, 1)}."
        )
    if valid_from and valid_until and valid_until < valid_from:
        errors["valid_until"] = "“Valid until” must be on or after “valid from”."
    if status not in InvitationCode.Status.values:
        errors["status"] = "Choose a status."
    elif status == InvitationCode.Status.SCHEDULED != code.status:
        errors["status"] = (
            "A code is scheduled only by its batch's release time: nothing would release it. "
            "Choose Revoked to stop it being booked."
        )
    if errors:
        raise ValidationError(errors)
    code.price = price
    code.max_uses = max_uses
    code.valid_from = valid_from
    code.valid_until = valid_until
    code.status = status
    fields = ["price", "max_uses", "valid_from", "valid_until", "status"]
    for name, value in (
        ("allowed_regions", allowed_regions),
        ("allowed_groups", allowed_groups),
        ("one_per_person", one_per_person),
    ):
        if value is not None:
            setattr(code, name, join_names(value) if isinstance(value, str) else value)
            fields.append(name)
    save_stamped(code, update_fields=fields)
    return code


@transaction.atomic
def code_archive(*, actor: User, code: InvitationCode, archived: bool = True) -> InvitationCode:
    """Hide a code from the default list (or bring it back); it is kept for the record."""
    code = InvitationCode.objects.select_for_update().get(pk=code.pk)
    code.is_archived = archived
    save_stamped(code, update_fields=["is_archived"])
    return code


@transaction.atomic
def code_revoke(*, actor: User, code: InvitationCode) -> InvitationCode:
    code = InvitationCode.objects.select_for_update().get(pk=code.pk)
    code.status = InvitationCode.Status.REVOKED
    save_stamped(code, update_fields=["status"])
    return code


@transaction.atomic
def code_delete(*, actor: User, code: InvitationCode) -> None:
    """Delete a never-used code. A used code is part of the record: revoke or archive it."""
    code = (
        InvitationCode.objects.select_related("contract")
        .select_for_update(of=("self",))
        .get(pk=code.pk)
    )
    refuse_if(code_deletion_refusal(code=code))
    DeletedCode.objects.create(
        code_id=code.pk,
        code=code.display,
        contract_id=code.contract_id,
        organisation_id=code.contract.organisation_id,
        deleted_by=actor,
        updated_at=Now(),
    )
    code.delete()


def codes_issue_to_participants(
    *, batch: CodeBatch, participant_ids: list[int], randbytes: Callable[[int], bytes] | None = None
) -> None:
    """Give each participant one new code of the batch, inside the caller's transaction.

    Set-based like a batch: draw a code per participant, insert all pairs skipping codes
    that exist, draw again for the participants whose code collided.
    """
    draw_options = {"randbytes": randbytes} if randbytes else {}
    waiting = list(participant_ids)
    attempts = 0
    while waiting:
        attempts += 1
        if attempts > 50:
            raise DomainError("Could not find enough unused codes: choose a wider code.")
        drawn = codelib.draw_codes(batch.prefix, batch.width, len(waiting), **draw_options)
        pairs = list(dict(zip(drawn, waiting, strict=True)).items())  # a code drawn twice: once
        served = _insert_assigned_codes(batch, pairs)
        waiting = [pid for pid in waiting if pid not in served]
    CodeBatch.objects.filter(pk=batch.pk).update(generated=F("generated") + len(participant_ids))


def _insert_assigned_codes(batch: CodeBatch, pairs: list[tuple[str, int]]) -> set[int]:
    """Insert (code, participant) pairs, skipping codes that exist; return who got a code."""
    table = InvitationCode._meta.db_table
    constants = _row_values(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE new_assigned_codes (code varchar(30), participant_id bigint) "
                "ON COMMIT DROP"
            )
            with cursor.cursor.copy(
                "COPY new_assigned_codes (code, participant_id) FROM STDIN"
            ) as copy:
                for pair in pairs:
                    copy.write_row(pair)
            cursor.execute(
                f"""
                INSERT INTO {table}
                    (code, participant_id, contract_id, price_id, batch_id, status, is_archived,
                     uses, max_uses, valid_from, valid_until, created_at,
                     allowed_regions, allowed_groups, one_per_person)
                SELECT code, participant_id, %s, %s, %s, %s, false, 0, %s, %s, %s, %s, %s, %s, %s
                FROM new_assigned_codes ORDER BY code COLLATE "C"
                ON CONFLICT DO NOTHING
                RETURNING participant_id
                """,
                constants,
            )
            served = {row[0] for row in cursor.fetchall()}
            cursor.execute("DROP TABLE new_assigned_codes")
        return served
    sql = (
        f"INSERT OR IGNORE INTO {table} (code, participant_id, contract_id, price_id, batch_id, "
        "status, is_archived, uses, max_uses, valid_from, valid_until, created_at, "
        "allowed_regions, allowed_groups, one_per_person) "
        "VALUES (%s, %s, %s, %s, %s, %s, 0, 0, %s, %s, %s, %s, %s, %s, %s)"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(code, pid, *constants) for code, pid in pairs])
    # The batch's holders: those asked for who have a code now (SQLite has no RETURNING
    # that reports skipped rows, and limits query parameters, so no IN list).
    holders = InvitationCode.objects.filter(batch=batch).values_list("participant_id", flat=True)
    return {pid for _, pid in pairs} & set(holders.iterator(chunk_size=10_000))
