"""Codes for participants: Generate Code for one, and the participant CSV import."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone

from contracts.models import Contract, ContractPrice, Participant
from core import codes as codelib
from core.errors import DomainError
from core.feeds import save_stamped
from core.locks import advisory_xact_lock
from invitations import selectors
from invitations.imports import DETAIL_FIELDS, ImportPlan, plan_import
from invitations.models import CodeBatch, InvitationCode, ParticipantImport
from invitations.services.generation import (
    check_batch_request,
    codes_issue_to_participants,
    hold_for_reference,
)

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None
WRITE_BATCH = 1_000
ANALYZE_AFTER_ROWS = 10_000


class CodeAlreadyHeld(DomainError):
    """The participant holds an unused code; staff must say whether to revoke it."""

    def __init__(self, participant: Participant, codes: list[InvitationCode]) -> None:
        listed = ", ".join(f"{c.code} ({c.price.price_code})" for c in codes)
        super().__init__(
            f"{participant.full_name} already holds the unused code {listed}. "
            "Revoke it and issue a new one?"
        )
        self.codes = codes


def participant_code_generate(
    *,
    actor: User,
    participant: Participant,
    price: ContractPrice,
    width: int,
    replacing: Collection[int] = (),
) -> InvitationCode:
    """Issue one new code of `price` to a participant.

    When they hold unused codes, refuse with CodeAlreadyHeld unless `replacing` names
    exactly those codes (the ones staff were shown and agreed to revoke): they are then
    revoked in the same transaction as the new one is issued. A double click, or a code
    issued by someone else meanwhile, asks again rather than revoke a code nobody saw.
    """
    with transaction.atomic():
        contract = Contract.objects.select_for_update(no_key=True).get(pk=participant.contract_id)
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        held = list(selectors.participant_unused_codes(participant=participant))
        if held and {code.pk for code in held} != set(replacing):
            raise CodeAlreadyHeld(participant, held)
        advisory_xact_lock(f"code-odds:{contract.invitation_prefix}:{width}")
        check_batch_request(
            contract=contract,
            price=price,
            quantity=1,
            width=width,
            max_uses=1,
            valid_from=None,
            valid_until=None,
        )
        if not hold_for_reference(ContractPrice, price.pk):
            raise ValidationError({"price": "This price was just deleted: choose another."})
        for code in held:
            code.status = InvitationCode.Status.REVOKED
            save_stamped(code, update_fields=["status"])
        batch = _assigned_batch(
            actor=actor,
            contract=contract,
            price=price,
            width=width,
            quantity=1,
            note=f"Generated for {participant.full_name}"[:500],
        )
        codes_issue_to_participants(batch=batch, participant_ids=[participant.pk])
        return InvitationCode.objects.select_related("price").get(batch=batch)


def _assigned_batch(
    *,
    actor: User,
    contract: Contract,
    price: ContractPrice,
    width: int,
    quantity: int,
    note: str,
    participant_import: ParticipantImport | None = None,
) -> CodeBatch:
    """The log row for codes issued straight to participants, in the caller's transaction."""
    return CodeBatch.objects.create(
        contract=contract,
        price=price,
        prefix=contract.invitation_prefix,
        quantity=quantity,
        width=width,
        max_uses=1,
        valid_from=contract.start_date,
        valid_until=contract.end_date,
        note=note,
        participant_import=participant_import,
        status=CodeBatch.Status.DONE,
        created_by=actor,
        finished_at=timezone.now(),
    )


# --- The CSV import ---------------------------------------------------------------------


def participant_import_upload(
    *,
    actor: User,
    contract: Contract,
    file: UploadedFile,
    width: int | None = None,
    update_existing: bool = False,
) -> ParticipantImport:
    """Store an uploaded participant CSV and check it (in the background when it is large).

    Nothing but the upload's own record is written: participants and codes wait for
    participant_import_complete. A file above the size limit is not stored at all.
    """
    running = selectors.running_import(contract=contract)
    if running is not None:
        raise DomainError(_running_message(running))
    width = width or contract.default_code_width
    if not codelib.MIN_WIDTH <= width <= codelib.MAX_WIDTH:
        raise ValidationError(
            {"width": f"Choose a code width between {codelib.MIN_WIDTH} and {codelib.MAX_WIDTH}."}
        )
    upload = ParticipantImport(
        contract=contract,
        original_name=(file.name or "upload.csv")[:255],
        size=file.size or 0,
        width=width,
        update_existing=update_existing,
        created_by=actor,
    )
    limit = settings.PARTICIPANT_IMPORT_MAX_BYTES
    if upload.size > limit:
        upload.status = ParticipantImport.Status.INVALID
        upload.issues = [
            {
                "row": None,
                "column": "",
                "value": "",
                "message": f"The file is {upload.size / 1_000_000:.1f} MB; the limit is "
                f"{limit / 1_000_000:.0f} MB. Split it into smaller files.",
            }
        ]
        upload.issue_count = 1
        upload.finished_at = timezone.now()
        upload.save()
        return upload
    lines = sum(chunk.count(b"\n") for chunk in file.chunks())
    upload.rows = max(lines - 1, 0)  # an estimate until the file is read
    # A name nobody can guess: the file holds personal data until it is imported.
    upload.file.save(f"{uuid.uuid4().hex}.csv", file, save=False)
    upload.save()
    if upload.rows > settings.PARTICIPANT_IMPORT_SYNC_ROWS:
        from invitations.tasks import validate_participant_import

        _enqueue_on_commit(upload.pk, validate_participant_import)
        upload.refresh_from_db()  # without a broker, the task has run by now
        return upload
    return participant_import_validate(import_id=upload.pk)


def participant_import_validate(*, import_id: int) -> ParticipantImport:
    """Read the stored file against the contract and record the verdict; writes nothing else."""
    upload = ParticipantImport.objects.select_related("contract").get(pk=import_id)
    if upload.status != ParticipantImport.Status.VALIDATING:
        return upload
    expected = max(upload.rows, 1)
    try:
        data = _read(upload)
        with _progress_reporter(upload.pk) as report:
            plan = plan_import(
                contract=upload.contract,
                data=data,
                update_existing=upload.update_existing,
                width=upload.width,
                max_rows=settings.PARTICIPANT_IMPORT_MAX_ROWS,
                progress=lambda n: report(min(99, n * 100 // expected)),
            )
    except Exception as exc:
        logger.exception("Checking participant import %s failed", import_id)
        _fail(upload, f"The file could not be checked: {exc}")
        return upload
    _record_verdict(upload, plan)
    return upload


def participant_import_complete(
    *, actor: User, participant_import: ParticipantImport
) -> ParticipantImport:
    """Complete Import: run a checked upload (in the background when it is large).

    Idempotent: a second click on the same upload finds it running or done and returns it.
    A small import runs in this request, its start and its writes in one transaction, so a
    process that dies midway leaves the upload ready to import again, not stuck "running".
    """
    upload = participant_import
    in_background = upload.rows > settings.PARTICIPANT_IMPORT_SYNC_ROWS
    try:
        with transaction.atomic():
            started = ParticipantImport.objects.filter(
                pk=upload.pk, status=ParticipantImport.Status.VALID
            ).update(status=ParticipantImport.Status.IMPORTING, progress=0)
            if started and not in_background:
                return participant_import_run(import_id=upload.pk, report_progress=False)
    except IntegrityError:
        # The unique index: another import into this contract is running.
        running = selectors.running_import(contract=upload.contract)
        raise DomainError(
            _running_message(running) if running else "Another import just started: try again."
        ) from None
    upload.refresh_from_db()
    if not started:
        if upload.status in (ParticipantImport.Status.IMPORTING, ParticipantImport.Status.DONE):
            return upload
        if upload.status == ParticipantImport.Status.EXPIRED:
            raise DomainError(
                "This upload was not imported in time and its file is gone: upload it again."
            )
        raise DomainError("This upload cannot be imported: fix its issues and upload it again.")
    from invitations.tasks import run_participant_import

    _enqueue_on_commit(upload.pk, run_participant_import)
    upload.refresh_from_db()  # without a broker, the task has run by now
    return upload


class _Rejected(Exception):
    """The file no longer passes the checks, or would now do something else than was shown."""

    def __init__(self, plan: ImportPlan) -> None:
        super().__init__("the file no longer matches what was checked")
        self.plan = plan


# What staff saw on the validation page and agreed to; the import must do exactly that.
AGREED_FIGURES = (
    "rows",
    "new",
    "updated",
    "unchanged",
    "kept",
    "codes_by_price",
    "already_hold",
    "notes",
)


def participant_import_run(*, import_id: int, report_progress: bool = True) -> ParticipantImport:
    """Write the import in one transaction: all participants and codes, or nothing.

    The file is checked again under the contract's lock, against the contract as it is
    now. Should it no longer pass, or should it now do something else than the
    validation page showed (another import added the same people meanwhile, say), the
    upload goes back to that page with the new figures and nothing is written.
    Safe to run twice (a redelivered task): the second run finds the import done.
    """
    upload = ParticipantImport.objects.select_related("contract", "created_by").get(pk=import_id)
    if upload.status != ParticipantImport.Status.IMPORTING:
        return upload
    reporter = _progress_reporter(upload.pk) if report_progress else _no_progress()
    try:
        data = _read(upload)
        with reporter as report, transaction.atomic():
            contract = Contract.objects.select_for_update(no_key=True).get(pk=upload.contract_id)
            # A run that waited for the lock may find the import already done by another.
            if not ParticipantImport.objects.filter(
                pk=upload.pk, status=ParticipantImport.Status.IMPORTING
            ).exists():
                upload.refresh_from_db()
                return upload
            advisory_xact_lock(f"code-odds:{contract.invitation_prefix}:{upload.width}")
            expected = max(upload.rows, 1)
            plan = plan_import(
                contract=contract,
                data=data,
                update_existing=upload.update_existing,
                width=upload.width,
                max_rows=settings.PARTICIPANT_IMPORT_MAX_ROWS,
                progress=lambda n: report(min(30, n * 30 // expected)),
            )
            fresh = plan.summary()
            agreed = all(fresh[key] == upload.summary.get(key) for key in AGREED_FIGURES)
            if not plan.ok or not agreed:
                raise _Rejected(plan)
            _write(upload, contract, plan, report)
            upload.status = ParticipantImport.Status.DONE
            upload.summary = fresh
            upload.rows = plan.row_count
            upload.progress = 100
            upload.finished_at = timezone.now()
            upload.save(update_fields=["status", "summary", "rows", "progress", "finished_at"])
    except _Rejected as rejected:
        _record_verdict(upload, rejected.plan, changed=True)
        return upload
    except Exception as exc:
        logger.exception("Participant import %s failed", import_id)
        _fail(upload, f"The import stopped and nothing was written: {exc}")
        return upload
    transaction.on_commit(lambda: _after_import(upload))
    return upload


def _after_import(upload: ParticipantImport) -> None:
    # The participants are in the database now; the uploaded copy of their data is not kept.
    _forget_file(upload)
    if upload.rows >= ANALYZE_AFTER_ROWS and connection.vendor == "postgresql":
        # Fresh statistics keep the planner on the indexes for the lists and exports.
        with connection.cursor() as cursor:
            for model in (Participant, InvitationCode):
                cursor.execute(f"ANALYZE {model._meta.db_table}")


def _write(
    upload: ParticipantImport,
    contract: Contract,
    plan: ImportPlan,
    report: Callable[[int], None],
) -> None:
    actor = upload.created_by
    reason = f"CSV import {upload.pk}: {upload.original_name}"[:100]
    new_rows = [row for row in plan.rows if row.participant_id is None]
    created = [Participant(contract=contract, **row.values) for row in new_rows]
    Participant.objects.bulk_create(created, batch_size=WRITE_BATCH)
    for row, participant in zip(new_rows, created, strict=True):
        row.participant_id = participant.pk
    _record_history([p.pk for p in created], kind="+", actor=actor, reason=reason)
    report(45)
    updates = {row.participant_id: row.values for row in plan.rows if row.update}
    if updates:
        changed = []
        for participant in Participant.objects.filter(pk__in=updates).iterator(chunk_size=5_000):
            for name, value in updates[participant.pk].items():
                setattr(participant, name, value)
            changed.append(participant)
        Participant.objects.bulk_update(changed, list(DETAIL_FIELDS), batch_size=WRITE_BATCH)
        _record_history(list(updates), kind="~", actor=actor, reason=reason)
    report(60)
    by_price: dict[int, list[int]] = defaultdict(list)
    for row in plan.rows:
        if row.price_id is not None:
            by_price[row.price_id].append(row.participant_id)
    done = 0
    total = sum(len(pids) for pids in by_price.values()) or 1
    for price_id, participant_ids in sorted(by_price.items()):
        if not hold_for_reference(ContractPrice, price_id):
            raise DomainError("A price of the file was deleted during the import.")
        batch = _assigned_batch(
            actor=actor,
            contract=contract,
            price=ContractPrice.objects.get(pk=price_id),
            width=upload.width,
            quantity=len(participant_ids),
            note=reason,
            participant_import=upload,
        )
        for start in range(0, len(participant_ids), 20_000):
            part = participant_ids[start : start + 20_000]
            codes_issue_to_participants(batch=batch, participant_ids=part)
            done += len(part)
            report(60 + done * 39 // total)


def _record_history(ids: list[int], *, kind: str, actor: User, reason: str) -> None:
    """Write the rows django-simple-history keeps for these participants, set-based.

    The same rows as its bulk helpers (a snapshot of each row, "+" created or "~" changed,
    who, when and why), copied by the database in one statement per chunk: building a
    history object per participant in Python was two thirds of a 100,000-row import.
    """
    history = Participant.history.model
    columns = [field.column for field in Participant._meta.concrete_fields]
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = (
        f"INSERT INTO {history._meta.db_table} ({quoted}, history_date, "
        "history_change_reason, history_type, history_user_id) "
        f"SELECT {quoted}, %s, %s, %s, %s FROM {Participant._meta.db_table} WHERE id IN ({{}})"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    constants = [now, reason, kind, actor.pk if actor else None]
    chunk = 5_000 if connection.vendor == "postgresql" else 900  # SQLite's parameter limit
    with connection.cursor() as cursor:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            cursor.execute(sql.format(", ".join(["%s"] * len(part))), [*constants, *part])


def _record_verdict(upload: ParticipantImport, plan: ImportPlan, *, changed: bool = False) -> None:
    upload.status = ParticipantImport.Status.VALID if plan.ok else ParticipantImport.Status.INVALID
    upload.issues = [issue.as_dict() for issue in plan.issues]
    upload.issue_count = plan.issue_count
    upload.summary = plan.summary() | {"changed": changed}
    upload.rows = plan.row_count
    upload.progress = 100
    upload.finished_at = timezone.now()
    upload.save(
        update_fields=[
            "status",
            "issues",
            "issue_count",
            "summary",
            "rows",
            "progress",
            "finished_at",
        ]
    )
    if not plan.ok:
        # A file with issues is uploaded again once fixed; this copy is not needed.
        _forget_file(upload)


def _fail(upload: ParticipantImport, message: str) -> None:
    ParticipantImport.objects.filter(pk=upload.pk).update(
        status=ParticipantImport.Status.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    upload.refresh_from_db()
    _forget_file(upload)


def _forget_file(upload: ParticipantImport) -> None:
    if upload.file:
        upload.file.delete(save=False)
        ParticipantImport.objects.filter(pk=upload.pk).update(file="")


def _enqueue_on_commit(import_id: int, task) -> None:
    """Queue a task once the upload's state is committed; a broker that refuses is a failure
    the page shows, not an upload left waiting for ever."""

    def enqueue() -> None:
        try:
            task.delay(import_id)
        except Exception as exc:
            logger.exception("Could not queue participant import %s", import_id)
            upload = ParticipantImport.objects.get(pk=import_id)
            _fail(upload, f"The import could not be queued (is the worker's broker up?): {exc}")

    transaction.on_commit(enqueue)


def _read(upload: ParticipantImport) -> bytes:
    if not upload.file:
        raise DomainError("The uploaded file is no longer stored: upload it again.")
    with upload.file.open("rb") as stored:
        return stored.read()


def _running_message(running: ParticipantImport) -> str:
    who = running.created_by.get_username() if running.created_by else "someone"
    started = timezone.localtime(running.created_at).strftime("%H:%M")
    return (
        f"An import into this contract is running (uploaded by {who} at {started}): "
        "wait for it to finish, then upload again."
    )


@contextmanager
def _no_progress() -> Iterator[Callable[[int], None]]:
    yield lambda percent: None


@contextmanager
def _progress_reporter(import_id: int) -> Iterator[Callable[[int], None]]:
    """Report progress so the page can show it while an import's transaction is still open.

    PostgreSQL: through a connection of its own, which commits at once. SQLite allows
    one writer at a time, so there progress is only written outside a transaction.
    """
    side = None
    if connection.vendor == "postgresql":
        side = connections.create_connection(DEFAULT_DB_ALIAS)
    table = ParticipantImport._meta.db_table

    def report(percent: int) -> None:
        if side is not None:
            with side.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET progress = %s WHERE id = %s", [percent, import_id]
                )
        elif not connection.in_atomic_block:
            ParticipantImport.objects.filter(pk=import_id).update(progress=percent)

    try:
        yield report
    finally:
        if side is not None:
            side.close()


UPLOAD_KEPT_FOR = timedelta(days=7)


def participant_imports_expire(*, now: datetime | None = None) -> int:
    """Forget uploads checked but never imported within UPLOAD_KEPT_FOR: their files hold
    personal data nobody is going to use. Returns how many expired."""
    cutoff = (now or timezone.now()) - UPLOAD_KEPT_FOR
    stale = ParticipantImport.objects.filter(
        status=ParticipantImport.Status.VALID, created_at__lt=cutoff
    )
    expired = 0
    for upload in stale.iterator():
        claimed = ParticipantImport.objects.filter(
            pk=upload.pk, status=ParticipantImport.Status.VALID
        ).update(status=ParticipantImport.Status.EXPIRED)
        if claimed:
            _forget_file(upload)
            expired += 1
    return expired
