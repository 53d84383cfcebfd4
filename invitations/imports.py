"""Reading and checking a participant CSV: every issue found, nothing written.

`plan_import` reads the whole file against the contract as it is now and returns
either the issues (row, column, value found, what is wrong) or a plan: which rows
add participants, which update them, which get a code of which price. The import
service runs it once on upload (for the CSV Import Validation page) and again inside
the Complete Import transaction, so a change made in between cannot slip through.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from contracts.models import Contract, Participant
from contracts.services import PARTICIPANT_FIELDS
from core import codes as codelib
from core import csvio
from core.timezones import site_today
from invitations import selectors
from invitations.resources import BY_FIELD, COLUMNS, KEY_TO_COLUMN, header_key

# The Participant fields a row carries, in the order the plan stores them: the ones the
# participant services write.
DETAIL_FIELDS = PARTICIPANT_FIELDS
MAX_LENGTHS = {
    name: Participant._meta.get_field(name).max_length
    for name in DETAIL_FIELDS
    if name not in ("date_of_birth", "notes")
}
MAX_LISTED_ISSUES = 1_000
DATE_HELP = "Write dates as 2026-03-01 or 01/03/2026 (day first)."
_EXCEL_NUMBER = re.compile(r"^\d+([.,]\d+)?E\+?\d+$", re.IGNORECASE)
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?: 0?0:00(?::00)?)?$")
_ID = re.compile(r"[0-9]{1,18}")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?$")


@dataclass
class Issue:
    row: int | None  # spreadsheet row (the header is row 1); None for the whole file
    column: str
    value: str
    message: str

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


@dataclass
class PlannedRow:
    row: int
    values: dict  # the row's details, cleaned
    participant_id: int | None  # the existing participant it describes; None adds one
    update: bool  # write the row's details over the participant's
    price_id: int | None  # issue a code of this price


@dataclass
class ImportPlan:
    issues: list[Issue] = field(default_factory=list)
    issue_count: int = 0
    rows: list[PlannedRow] = field(default_factory=list)
    row_count: int = 0
    notes: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    codes_by_price: Counter = field(default_factory=Counter)  # price code -> codes to issue
    encoding: str = ""
    delimiter: str = ""

    @property
    def ok(self) -> bool:
        return self.issue_count == 0

    def add(self, row: int | None, column: str, value: str, message: str) -> None:
        self.issue_count += 1
        if len(self.issues) < MAX_LISTED_ISSUES:
            self.issues.append(Issue(row, column, value[:200], message))

    def summary(self) -> dict:
        delimiter = {",": "comma", ";": "semicolon", "\t": "tab"}.get(self.delimiter, "")
        return {
            "rows": self.row_count,
            "new": self.counts["new"],
            "updated": self.counts["updated"],
            "unchanged": self.counts["unchanged"],
            "kept": self.counts["kept"],
            "codes": sum(self.codes_by_price.values()),
            "codes_by_price": dict(sorted(self.codes_by_price.items())),
            "already_hold": self.counts["already_hold"],
            "notes": self.notes,
            "encoding": self.encoding,
            "delimiter": delimiter,
        }


def parse_date(text: str) -> date:
    """2026-03-01, 1/3/2026, 01/03/2026 or 01.03.2026 (day first); ValueError otherwise."""
    try:
        if m := _ISO.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DAY_FIRST.match(text):
            day, month = int(m[1]), int(m[2])
            if month > 12 and day <= 12:
                raise ValueError(
                    f"This reads as month {month}: the date seems to be written month first "
                    f"(US style). {DATE_HELP}"
                )
            return date(int(m[3]), month, day)
    except ValueError as exc:
        if "month first" in str(exc):
            raise
    raise ValueError(f"Not a date we can read. {DATE_HELP}")


class _ContractState:
    """What the checks need to know of the contract, loaded in a few queries."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        rows = Participant.objects.filter(contract=contract).values_list("id", *DETAIL_FIELDS)
        self.details: dict[int, tuple] = {}
        self.by_email: dict[str, list[int]] = {}
        self.by_reference: dict[str, int] = {}
        self.zero_padded: dict[str, str] = {}  # reference without its leading zeros -> reference
        for pid, *values in rows.iterator(chunk_size=10_000):
            self.details[pid] = tuple(values)
            self.by_email.setdefault(values[2].lower(), []).append(pid)
            reference = values[5]
            if reference:
                self.by_reference[reference] = pid
                if reference.startswith("0") and reference.lstrip("0"):
                    self.zero_padded[reference.lstrip("0")] = reference
        self.prices = {p.price_code: p for p in contract.prices.all()}
        self.unused = selectors.unused_code_holders(contract=contract)
        self.unused_holders = {pid for pid, _ in self.unused}

    def name(self, pid: int) -> str:
        first, last, email = self.details[pid][:3]
        return f"{first} {last} (ID {pid}, {email})"


def plan_import(
    *,
    contract: Contract,
    data: bytes,
    update_existing: bool,
    width: int,
    max_rows: int,
    progress: Callable[[int], None] | None = None,
) -> ImportPlan:
    """Check a participant CSV against the contract; return its issues or what to do.

    `width` is the width of the codes the import would issue, for the guess-odds check.
    """
    plan = ImportPlan()
    try:
        table = csvio.read_table(data)
    except csvio.CsvReadError as exc:
        plan.add(None, "", "", exc.message)
        return plan
    plan.encoding, plan.delimiter = table.encoding, table.delimiter
    positions = _map_header(table.header, contract, plan)
    if not plan.ok:
        return plan
    state = _ContractState(contract)
    checker = _RowChecker(
        contract,
        state,
        plan,
        positions,
        len(table.header),
        update_existing,
        table.empty_trailing_columns,
    )
    try:
        for number, cells in table.rows:
            if plan.row_count >= max_rows:
                plan.add(
                    None,
                    "",
                    "",
                    f"The file has more than {max_rows:,} rows; import at most {max_rows:,} "
                    "at a time: split the file and upload each part.",
                )
                break
            plan.row_count += 1
            checker.check(number, cells)
            if progress and plan.row_count % 10_000 == 0:
                progress(plan.row_count)
    except csvio.CsvReadError as exc:
        plan.add(None, "", "", exc.message)
    if plan.row_count == 0 and plan.ok:
        plan.add(None, "", "", "The file has column names but no rows of participants.")
    checker.finish(width)
    return plan


def _map_header(header: list[str], contract: Contract, plan: ImportPlan) -> dict[str, int]:
    """Which position holds which field; every unknown, repeated or missing header is an issue."""
    positions: dict[str, int] = {}
    accepted = ", ".join(c.header for c in COLUMNS)
    for index, text in enumerate(header):
        text = text.lstrip("\ufeff").strip()
        column_label = f"column {index + 1}"
        if not text:
            plan.add(1, column_label, "", "This column has no name. Remove it or name it.")
            continue
        column = KEY_TO_COLUMN.get(header_key(text))
        if column is None:
            plan.add(
                1, column_label, text, f"Unknown column. The accepted columns are: {accepted}."
            )
        elif column.field in positions:
            first = positions[column.field] + 1
            plan.add(
                1,
                column_label,
                text,
                f"The column {column.header} appears twice (columns {first} and {index + 1}).",
            )
        else:
            positions[column.field] = index
    required = [c for c in COLUMNS if c.required]
    if contract.participant_identifier == Contract.Identifier.REFERENCE:
        required.append(BY_FIELD["external_reference"])
    for column in required:
        if column.field not in positions:
            plan.add(
                1, column.header, "", f"The column {column.header} is missing; it is required."
            )
    return positions


class _RowChecker:
    def __init__(
        self,
        contract: Contract,
        state: _ContractState,
        plan: ImportPlan,
        positions: dict[str, int],
        width: int,
        update_existing: bool,
        spare_columns: int,
    ) -> None:
        self.contract = contract
        self.state = state
        self.plan = plan
        self.positions = [
            (name, index)
            for name, index in positions.items()
            if name in DETAIL_FIELDS or name in ("id", "price_code")
        ]
        self.header_width = width
        self.spare_columns = spare_columns
        self.update_existing = update_existing
        self.identifier = contract.participant_identifier
        self.seen_ids: dict[int, int] = {}
        self.seen_references: dict[str, int] = {}
        self.seen_emails: dict[str, int] = {}
        self.seen_participants: dict[int, int] = {}
        self.new_with_known_email: list[int] = []
        self.second_code: int = 0
        self.price_list = ", ".join(sorted(state.prices)) or "none yet"

    def issue(self, row: int, name: str, value: str, message: str) -> None:
        self.plan.add(row, BY_FIELD[name].header if name in BY_FIELD else name, value, message)

    def check(self, row: int, cells: list[str]) -> None:
        plan = self.plan
        before = plan.issue_count
        if len(cells) < self.header_width:
            plan.add(
                row,
                "",
                "",
                f"This row has {len(cells)} cells but the header has {self.header_width}: "
                "a value or a delimiter is missing.",
            )
            return
        # Extra cells are only forgiven where the header itself ended in empty columns.
        extra = cells[self.header_width :]
        if extra and (any(extra) or len(extra) > self.spare_columns):
            plan.add(
                row,
                "",
                "",
                f"This row has {len(cells)} cells but the header has {self.header_width}: "
                "a value probably holds a comma or semicolon without quotes around it.",
            )
            return
        raw = {name: cells[index] for name, index in self.positions}
        if any("\ufeff" in cell for cell in cells):
            if header_key(cells[0].lstrip("\ufeff")) in ("id", "firstname"):
                plan.add(
                    row,
                    "",
                    cells[0],
                    "This row repeats the column names, with an invisible byte-order mark: "
                    "two files seem to have been joined. Remove this row.",
                )
                return
            for name, value in raw.items():
                if "\ufeff" in value:
                    self.issue(
                        row,
                        name,
                        value,
                        "This cell holds an invisible byte-order mark (U+FEFF), left where two "
                        "files were joined: retype the value.",
                    )
        values = self._details(row, raw)
        pid = self._participant(row, raw, values)
        price_id = self._price(row, raw)
        if plan.issue_count != before:
            return
        self._plan_row(row, values, pid, price_id)

    def _details(self, row: int, raw: dict[str, str]) -> dict:
        values: dict = {}
        for name in DETAIL_FIELDS:
            value = raw.get(name, "")
            if name == "email":
                value = value.lower()
            if name in ("first_name", "last_name", "email") and not value:
                self.issue(row, name, value, "Missing required value.")
            elif name in MAX_LENGTHS and len(value) > MAX_LENGTHS[name]:
                self.issue(
                    row,
                    name,
                    value,
                    f"Too long: at most {MAX_LENGTHS[name]} characters (this has {len(value)}).",
                )
            values[name] = value
        email = values["email"]
        if email:
            try:
                validate_email(email)
            except ValidationError:
                hint = (
                    " It seems to hold more than one address: one per participant."
                    if any(sep in email for sep in ",; ")
                    else ""
                )
                self.issue(row, "email", raw["email"], "Not a valid email address." + hint)
        phone = values["phone"]
        if phone and _EXCEL_NUMBER.match(phone):
            self.issue(
                row,
                "phone",
                phone,
                "The spreadsheet turned this phone number into a number and lost digits: "
                "format the Phone column as Text and type the number again.",
            )
        born = values["date_of_birth"]
        values["date_of_birth"] = None
        if born:
            try:
                values["date_of_birth"] = parse_date(born)
            except ValueError as exc:
                self.issue(row, "date_of_birth", born, str(exc))
            else:
                if values["date_of_birth"] > site_today():
                    self.issue(row, "date_of_birth", born, "The date of birth is in the future.")
        reference = values["external_reference"]
        if reference:
            first = self.seen_references.setdefault(reference, row)
            if first != row:
                self.issue(
                    row,
                    "external_reference",
                    reference,
                    f"The external reference {reference} appears again (first on row {first}).",
                )
        return values

    def _participant(self, row: int, raw: dict[str, str], values: dict) -> int | None:
        """The existing participant this row describes, by the contract's Unique Identifier."""
        state = self.state
        pid = None
        text = raw.get("id", "")
        if text:
            if not _ID.fullmatch(text):
                self.issue(
                    row,
                    "id",
                    text,
                    "An ID is a number from this contract's Download CSV; "
                    "leave it empty for a new participant.",
                )
                return None
            pid = int(text)
            first = self.seen_ids.setdefault(pid, row)
            if first != row:
                self.issue(row, "id", text, f"The ID {pid} appears again (first on row {first}).")
                return None
            if pid not in state.details:
                self.issue(
                    row,
                    "id",
                    text,
                    f"No participant of this contract has the ID {pid}. IDs come from this "
                    "contract's Download CSV; leave ID empty to add a new participant.",
                )
                return None
        email, reference = values["email"], values["external_reference"]
        if self.identifier == Contract.Identifier.EMAIL and email:
            matches = state.by_email.get(email, [])
            if pid is not None and pid not in matches:
                self.issue(
                    row,
                    "email",
                    email,
                    f"The ID {pid} is {state.name(pid)}, but the email address identifies "
                    "participants on this contract and cannot change in an import. Change it "
                    "on the participant's page, or clear the ID to add a new participant.",
                )
                return None
            # Rows with the ID of one of several participants sharing an email are told
            # apart by that ID; the participant check below catches one described twice.
            if pid is None:
                first = self.seen_emails.setdefault(email, row)
                if first != row:
                    self.issue(
                        row,
                        "email",
                        email,
                        f"The email address appears again (first on row {first}); it identifies "
                        "participants on this contract, so each may appear once.",
                    )
                    return None
                if len(matches) > 1:
                    self.issue(
                        row,
                        "email",
                        email,
                        f"{len(matches)} participants of this contract have this email address; "
                        "give the row their ID to say which one.",
                    )
                    return None
                if matches:
                    pid = matches[0]
        elif self.identifier == Contract.Identifier.REFERENCE and reference:
            match = state.by_reference.get(reference)
            if pid is not None and match != pid:
                self.issue(
                    row,
                    "external_reference",
                    reference,
                    f"The ID {pid} is {state.name(pid)}, whose external reference is "
                    f"“{state.details[pid][5]}”: the reference identifies participants on this "
                    "contract and cannot change in an import.",
                )
                return None
            pid = match if pid is None else pid
        elif self.identifier == Contract.Identifier.REFERENCE and pid is None:
            self.issue(
                row,
                "external_reference",
                "",
                "Missing required value: this contract identifies participants by their "
                "external reference (or give their ID).",
            )
            return None
        if pid is not None:
            first = self.seen_participants.setdefault(pid, row)
            if first != row:
                self.issue(
                    row,
                    "",
                    "",
                    f"This row and row {first} both describe {state.name(pid)}.",
                )
                return None
        self._check_reference(row, pid, values)
        return pid

    def _check_reference(self, row: int, pid: int | None, values: dict) -> None:
        reference = values["external_reference"]
        written = pid is None or self.update_existing
        if not reference or not written:
            return
        owner = self.state.by_reference.get(reference)
        if owner is not None and owner != pid:
            self.issue(
                row,
                "external_reference",
                reference,
                f"The external reference {reference} already belongs to {self.state.name(owner)}.",
            )
        elif owner is None and reference in self.state.zero_padded:
            padded = self.state.zero_padded[reference]
            self.issue(
                row,
                "external_reference",
                reference,
                f"The spreadsheet seems to have dropped leading zeros: a participant has the "
                f"reference {padded}. Format the column as Text and restore the zeros.",
            )

    def _price(self, row: int, raw: dict[str, str]) -> int | None:
        text = raw.get("price_code", "")
        if not text:
            return None
        price = self.state.prices.get(text.upper())
        if price is None:
            self.issue(
                row,
                "price_code",
                text,
                f"Unknown price code. Accepted values: {self.price_list} "
                "(or leave it empty for no code).",
            )
            return None
        return price.pk

    def _plan_row(self, row: int, values: dict, pid: int | None, price_id: int | None) -> None:
        plan, state = self.plan, self.state
        update = False
        if pid is None:
            plan.counts["new"] += 1
            if self.identifier == Contract.Identifier.ID and values["email"] in state.by_email:
                self.new_with_known_email.append(row)
        else:
            stored = dict(zip(DETAIL_FIELDS, state.details[pid], strict=True))
            changed = any(values[name] != stored[name] for name in DETAIL_FIELDS)
            if not changed:
                plan.counts["unchanged"] += 1
            elif self.update_existing:
                if not self._safe_update(row, values, stored):
                    return
                update = True
                plan.counts["updated"] += 1
            else:
                plan.counts["kept"] += 1
        if price_id is not None and pid is not None and (pid, price_id) in state.unused:
            plan.counts["already_hold"] += 1
            price_id = None
        if price_id is not None:
            price_code = next(c for c, p in state.prices.items() if p.pk == price_id)
            plan.codes_by_price[price_code] += 1
            if pid is not None and pid in state.unused_holders:
                self.second_code += 1
        plan.rows.append(PlannedRow(row, values, pid, update, price_id))

    def _safe_update(self, row: int, values: dict, stored: dict) -> bool:
        """Catch what spreadsheets do to existing values before they overwrite them."""
        ok = True
        phone, old_phone = values["phone"], stored["phone"]
        if phone and old_phone.startswith("0") and phone == old_phone.lstrip("0"):
            self.issue(
                row,
                "phone",
                phone,
                f"The spreadsheet seems to have dropped leading zeros (the participant's "
                f"phone is {old_phone}). Format the column as Text and restore the zeros.",
            )
            ok = False
        born, old_born = values["date_of_birth"], stored["date_of_birth"]
        if born and old_born and born != old_born and born.day <= 12:
            try:
                swapped = born.replace(day=born.month, month=born.day)
            except ValueError:
                swapped = None
            if swapped == old_born:
                self.issue(
                    row,
                    "date_of_birth",
                    born.strftime("%d/%m/%Y"),
                    f"This reads as {born.day} {born:%B %Y}, but the participant's date is "
                    f"{old_born.day} {old_born:%B %Y}: the spreadsheet probably wrote it "
                    "month first. " + DATE_HELP,
                )
                ok = False
        return ok

    def finish(self, width: int) -> None:
        plan = self.plan
        codes = sum(plan.codes_by_price.values())
        if codes:
            odds = selectors.guess_odds(contract=self.contract, width=width, quantity=codes)
            if not odds.safe:
                safe = odds.smallest_safe_width
                plan.add(
                    None,
                    "Code width",
                    str(width),
                    f"With {odds.total:,} codes of width {width}, 1 in {odds.one_in:,} random "
                    f"guesses would hit a code; at least 1 in {codelib.MIN_GUESS_ODDS:,} is "
                    "required. "
                    + (f"Upload again with a code width of at least {safe}." if safe else ""),
                )
        if codes and self.contract.status == Contract.Status.CLOSED:
            plan.add(
                None,
                "Price Code",
                "",
                f"The contract {self.contract.name} is closed: no codes can be issued. "
                "Clear the Price Code column or reopen the contract.",
            )
        if self.new_with_known_email:
            rows = ", ".join(str(r) for r in self.new_with_known_email[:10])
            more = "…" if len(self.new_with_known_email) > 10 else ""
            plan.notes.append(
                f"{len(self.new_with_known_email):,} row(s) without an ID have the email address "
                f"of a participant already on the contract (rows {rows}{more}): they will be "
                "added as new participants. Give them their ID to update the existing ones."
            )
        if plan.counts["kept"]:
            plan.notes.append(
                f"{plan.counts['kept']:,} existing participant(s) have details that differ from "
                "the file; they keep theirs, because Update existing contacts is not ticked. "
                "Their codes are still issued."
            )
        if self.second_code:
            plan.notes.append(
                f"{self.second_code:,} participant(s) already hold an unused code of another "
                "price and will hold a second one."
            )
