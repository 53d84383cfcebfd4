"""Import existing users as referrers: check the whole CSV first, then write all or nothing."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from core import codes as codelib
from core.csvio import CsvReadError, read_table
from core.errors import DomainError
from referrals import fraud
from referrals.models import REFERRAL_CODE_WIDTH, ReferralProgram, Referrer, ReferrerImport

# Header (lower case, spaces and underscores alike) → field. "Name" or First and Last Name.
HEADERS = {
    "name": "name",
    "full name": "name",
    "first name": "first_name",
    "last name": "last_name",
    "company": "company",
    "organisation": "company",
    "organization": "company",
    "email": "email",
    "email address": "email",
    "e-mail": "email",
}
TEMPLATE_HEADERS = ["Name", "Company", "Email"]
# What the referrer export adds: accepted on upload and left alone, so an exported file
# comes back in as it went out (its members are already in the program).
EXPORT_ONLY = [
    "Referral code",
    "Referral link",
    "Status",
    "Source",
    "Visits",
    "Signups",
    "Successful",
    "Joined",
]
EXPORT_HEADERS = TEMPLATE_HEADERS + EXPORT_ONLY
_IGNORED = {" ".join(h.lower().split()) for h in EXPORT_ONLY}
# An export by a reader in another zone than the site's names it: "Joined (Asia/Tokyo)".
_ZONE_NAMED = re.compile(r"\s*\([^()]*\)$")
SHOWN_ISSUES = 1000
CHUNK = 5000
ANALYZE_AFTER_ROWS = 10_000


def _key(header: str) -> str:
    return " ".join(header.replace("_", " ").lower().split())


class _Checker:
    def __init__(self, program: ReferralProgram) -> None:
        self.program = program
        self.issues: list[dict] = []
        self.issue_count = 0
        self.rows: list[list[str]] = []
        self.first_row: dict[str, int] = {}

    def issue(self, row: int | None, column: str, value: str, message: str) -> None:
        self.issue_count += 1
        if len(self.issues) < SHOWN_ISSUES:
            self.issues.append(
                {"row": row, "column": column, "value": value[:200], "message": message}
            )

    def columns(self, header: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for index, title in enumerate(header):
            field = HEADERS.get(_key(title))
            if _ZONE_NAMED.sub("", _key(title)) in _IGNORED:
                continue
            if not title:
                self.issue(1, f"column {index + 1}", "", "This column has no name.")
            elif field is None:
                self.issue(1, title, title, "Unknown column. Use Name, Company and Email.")
            elif field in found:
                self.issue(1, title, title, "This column appears twice.")
            else:
                found[field] = index
        if "email" not in found:
            self.issue(1, "Email", "", "The Email column is missing.")
        if "name" not in found and "first_name" not in found:
            self.issue(1, "Name", "", "The Name column (or First Name and Last Name) is missing.")
        return found

    def row(self, number: int, cells: list[str], columns: dict[str, int], width: int) -> None:
        if len(cells) != width:
            self.issue(number, "", "", f"This row has {len(cells)} cells; the header has {width}.")
            return

        def cell(field: str) -> str:
            return cells[columns[field]].strip() if field in columns else ""

        name = cell("name") or " ".join(filter(None, (cell("first_name"), cell("last_name"))))
        email = cell("email").lower()
        ok = True
        if not name:
            self.issue(number, "Name", "", "The name is missing.")
            ok = False
        try:
            validate_email(email)
        except ValidationError:
            self.issue(number, "Email", cell("email"), "Not a valid email address.")
            ok = False
        else:
            if email in self.first_row:
                self.issue(
                    number, "Email", email, f"Also on row {self.first_row[email]}: list it once."
                )
                ok = False
            else:
                self.first_row[email] = number
        if len(name) > 200 or len(cell("company")) > 200:
            self.issue(number, "Name" if len(name) > 200 else "Company", "", "Over 200 characters.")
            ok = False
        if ok:
            self.rows.append([name, cell("company"), email])


@transaction.atomic
def referrer_import_check(
    *,
    actor: User | None,
    program: ReferralProgram,
    file_name: str,
    data: bytes,
    send_welcome: bool = False,
) -> ReferrerImport:
    """Check an uploaded CSV of existing users; nothing is imported until it is completed.

    Emails already in the program are left as they are and counted; every other problem
    is an issue by row and column, and one issue keeps the whole file out.
    """
    checker = _Checker(program)
    limit = settings.REFERRER_IMPORT_MAX_BYTES
    if len(data) > limit:
        size = f"{limit / 1_000_000:g} MB" if limit >= 1_000_000 else f"{limit:,} bytes"
        checker.issue(None, "", "", f"The file is over the limit of {size}: split it.")
    else:
        try:
            table = read_table(data)
            columns = checker.columns(table.header)
            if checker.issue_count == 0:
                count = 0
                for number, cells in table.rows:
                    count += 1
                    if count > settings.REFERRER_IMPORT_MAX_ROWS:
                        checker.issue(
                            number,
                            "",
                            "",
                            f"Over {settings.REFERRER_IMPORT_MAX_ROWS:,} rows: split the file.",
                        )
                        break
                    checker.row(number, cells, columns, len(table.header))
                if count == 0:
                    checker.issue(None, "", "", "The file has a header but no rows.")
        except CsvReadError as exc:
            checker.issue(None, "", "", exc.message)
    existing = set()
    if checker.issue_count == 0:
        emails = [row[2] for row in checker.rows]
        for start in range(0, len(emails), CHUNK):
            existing.update(
                Referrer.objects.filter(
                    program=program, email__in=emails[start : start + CHUNK]
                ).values_list("email", flat=True)
            )
    ok = checker.issue_count == 0
    return ReferrerImport.objects.create(
        program=program,
        file_name=file_name[:255],
        status=ReferrerImport.Status.VALID if ok else ReferrerImport.Status.INVALID,
        rows=[row for row in checker.rows if row[2] not in existing] if ok else [],
        issues=checker.issues,
        issue_count=checker.issue_count,
        total_rows=len(checker.rows) - len(existing) if ok else 0,
        already_members=len(existing),
        send_welcome=send_welcome,
        created_by=actor,
    )


def referrer_import_complete(*, actor: User | None, upload: ReferrerImport) -> ReferrerImport:
    """Make every checked row a referrer with its own link, in one transaction.

    Someone who joined between the check and now is left as they are. Codes come from the
    same generator as invitation codes; the unique index settles a rare collision, which
    is drawn again.
    """
    with transaction.atomic():
        upload = ReferrerImport.objects.select_for_update().get(pk=upload.pk)
        if upload.status != ReferrerImport.Status.VALID:
            raise DomainError("Only a checked file without issues can be imported, once.")
        program = upload.program
        now = timezone.now()
        imported = 0
        rows = upload.rows
        for start in range(0, len(rows), CHUNK):
            imported += _insert_chunk(program, upload, rows[start : start + CHUNK], now)
        upload.status = ReferrerImport.Status.DONE
        upload.imported = imported
        upload.completed_at = now
        upload.rows = []
        upload.save(update_fields=["status", "imported", "completed_at", "rows"])
        if imported >= ANALYZE_AFTER_ROWS and connection.vendor == "postgresql":
            # Without fresh statistics the planner takes the program for a handful of
            # referrers and scans all of them on every signup (15 signups/s, not 57).
            transaction.on_commit(_analyze)
        if upload.send_welcome and imported:
            from referrals.tasks import send_import_welcome

            upload_id = upload.pk
            transaction.on_commit(lambda: send_import_welcome.delay(upload_id), robust=True)
    return upload


def _analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Referrer._meta.db_table}")


def _insert_chunk(program: ReferralProgram, upload: ReferrerImport, rows: list, now) -> int:
    waiting = {row[2]: row for row in rows}
    waiting_emails = list(waiting)
    for email in Referrer.objects.filter(program=program, email__in=waiting_emails).values_list(
        "email", flat=True
    ):
        waiting.pop(email, None)
    inserted = 0
    for _ in range(20):
        if not waiting:
            return inserted
        drawn = codelib.draw_codes("", REFERRAL_CODE_WIDTH, len(waiting))
        objs = [
            Referrer(
                program=program,
                name=name,
                company=company,
                email=email,
                mailbox=fraud.mailbox(email),
                code=code,
                status=Referrer.Status.ACTIVE,
                source=Referrer.Source.IMPORT,
                confirmed_at=now,
                origin_import=upload,
            )
            for (name, company, email), code in zip(waiting.values(), drawn, strict=True)
        ]
        Referrer.objects.bulk_create(objs, ignore_conflicts=True, batch_size=1000)
        landed = dict(
            Referrer.objects.filter(program=program, email__in=list(waiting)).values_list(
                "email", "origin_import_id"
            )
        )
        for email, origin in landed.items():
            inserted += origin == upload.pk
            waiting.pop(email, None)
    raise DomainError("Could not find free referral codes; try again.")
