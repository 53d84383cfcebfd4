"""Bringing existing users into a program: CSV import, instant signup links, CSV export."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from core.access import staff_permission_required
from core.csvio import csv_response, iter_csv
from core.errors import DomainError
from core.timezones import site_zone, zone_header
from referrals import links, services
from referrals.forms import ImportForm, JoinLinksForm
from referrals.models import ReferralProgram, Referrer, ReferrerImport
from referrals.services.imports import EXPORT_HEADERS, TEMPLATE_HEADERS

# How many lines one request may turn into join links: a page of people, not a mailing list.
JOIN_LINKS_MAX_LINES = 5_000
# Columns that hold only what we generated (codes, links, labels, numbers, dates).
EXPORT_TRUSTED = range(3, len(EXPORT_HEADERS))


def _program(pk: int) -> ReferralProgram:
    return get_object_or_404(ReferralProgram.objects.select_related("contract"), pk=pk)


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M")


def _upload_help() -> dict:
    return {
        "headers": TEMPLATE_HEADERS,
        "max_mb": settings.REFERRER_IMPORT_MAX_BYTES // 1_000_000,
        "max_rows": settings.REFERRER_IMPORT_MAX_ROWS,
    }


@staff_permission_required("referrals.view_referralprogram", "referrals.add_referrerimport")
def import_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload CSV: instructions, the template, Choose File → Upload; nothing is imported yet."""
    program = _program(pk)
    form = ImportForm(request.POST if request.method == "POST" else None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        # One byte past the limit is enough for the check to refuse the file by its size.
        data = upload.read(settings.REFERRER_IMPORT_MAX_BYTES + 1)
        checked = services.referrer_import_check(
            actor=request.user,
            program=program,
            file_name=upload.name,
            data=data,
            send_welcome=form.cleaned_data["send_welcome"],
        )
        return redirect("referrals:import_detail", pk=checked.pk)
    return render(
        request,
        "referrals/import_upload.html",
        {"program": program, "tab": "import", "form": form, **_upload_help()},
    )


@staff_permission_required("referrals.view_referralprogram")
def import_template(request: HttpRequest, pk: int) -> HttpResponse:
    """An empty CSV with the columns an import reads."""
    program = _program(pk)
    response = HttpResponse("".join(iter_csv(TEMPLATE_HEADERS, [])), content_type="text/csv")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"referrers-{program.slug}-template.csv"
    )
    return response


def _import(pk: int) -> ReferrerImport:
    # The checked rows can be a few hundred thousand; the page needs only their count.
    return get_object_or_404(
        ReferrerImport.objects.select_related("program__contract", "created_by").defer("rows"),
        pk=pk,
    )


@staff_permission_required("referrals.view_referralprogram", "referrals.view_referrerimport")
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """CSV Import Validation while an upload awaits Complete Import; the result afterwards."""
    upload = _import(pk)
    return render(
        request,
        "referrals/import_detail.html",
        {
            "program": upload.program,
            "tab": "import",
            "upload": upload,
            # total_rows counts the rows to import; members already in are left out of it.
            "to_import": upload.total_rows,
            "file_rows": upload.total_rows + upload.already_members,
            "form": ImportForm(initial={"send_welcome": upload.send_welcome}),
            **_upload_help(),
        },
    )


@require_POST
@staff_permission_required("referrals.view_referralprogram", "referrals.add_referrerimport")
def import_complete(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _import(pk)
    try:
        upload = services.referrer_import_complete(actor=request.user, upload=upload)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("referrals:import_detail", pk=upload.pk)
    count = upload.imported
    text = f"{count:,} referrer{'s' if count != 1 else ''} imported"
    if upload.already_members:
        text += f"; {upload.already_members:,} already in the program were left as they are"
    if upload.send_welcome and count:
        text += ". Each new referrer is emailed their referral link"
    messages.success(request, text + ".")
    return redirect("referrals:referrer_list", pk=upload.program_id)


# --- Instant signup links ------------------------------------------------------------------


@dataclass(frozen=True)
class JoinLine:
    email: str
    name: str = ""
    company: str = ""


_NAMED = re.compile(r"^(?P<name>[^<>]*)<(?P<email>[^<>]+)>$")


def parse_join_lines(text: str) -> tuple[list[JoinLine], list[str]]:
    """The people of the Join links box, and an error for each line that is not one.

    A line is `email`, `Name <email>`, or `email, name, company` (read as CSV, so a
    company with a comma can be quoted). Blank lines are skipped.
    """
    people: list[JoinLine] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}
    lines = text.splitlines()
    if len(lines) > JOIN_LINKS_MAX_LINES:
        return [], [f"{len(lines):,} lines: at most {JOIN_LINKS_MAX_LINES:,} at a time."]
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        named = _NAMED.match(line)
        if named:
            email, name, company = named["email"], named["name"].strip().strip('"'), ""
        else:
            cells = [cell.strip() for cell in next(csv.reader([line], skipinitialspace=True))]
            if len(cells) > 3:
                errors.append(
                    f"Line {number}: {len(cells)} values; write email, name, company "
                    "(put a company with a comma in quotes)."
                )
                continue
            email, name, company = [*cells, "", ""][:3]
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            errors.append(f"Line {number}: “{email or line}” is not a valid email address.")
            continue
        if len(name) > 200 or len(company) > 200:
            errors.append(f"Line {number}: a name or company is over 200 characters.")
            continue
        if email in first_line:
            errors.append(f"Line {number}: {email} is also on line {first_line[email]}.")
            continue
        first_line[email] = number
        people.append(JoinLine(email=email, name=name, company=company))
    return people, errors


@staff_permission_required("referrals.view_referralprogram", "referrals.add_referrerimport")
def join_links(request: HttpRequest, pk: int) -> HttpResponse:
    """Instant signup links: a CSV of personal links that join the program in one click."""
    program = _program(pk)
    form = JoinLinksForm(request.POST if request.method == "POST" else None)
    bad_lines: list[str] = []
    if request.method == "POST" and form.is_valid():
        people, bad_lines = parse_join_lines(form.cleaned_data["emails"])
        if not bad_lines and not people:
            form.add_error("emails", "Enter at least one email address.")
        elif not bad_lines:
            rows = (
                [
                    person.email,
                    person.name,
                    person.company,
                    links.join_link(
                        program_id=program.pk,
                        email=person.email,
                        name=person.name,
                        company=person.company,
                    ),
                ]
                for person in people
            )
            return csv_response(
                f"join-links-{program.slug}-{_stamp()}.csv",
                ["Email", "Name", "Company", "Link"],
                rows,
                trusted_columns=[3],
            )
    return render(
        request,
        "referrals/join_links.html",
        {
            "program": program,
            "tab": "import",
            "form": form,
            "bad_lines": bad_lines,
            "days": settings.REFERRAL_JOIN_LINK_DAYS,
        },
    )


# --- Export --------------------------------------------------------------------------------


@staff_permission_required("referrals.view_referralprogram", "referrals.view_referrer")
def referrer_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Download CSV: every referrer of the program with their link and counts, streamed."""
    program = _program(pk)
    return csv_response(
        f"referrers-{program.slug}-{_stamp()}.csv",
        [*EXPORT_HEADERS[:-1], zone_header(EXPORT_HEADERS[-1])],
        _export_rows(program),
        trusted_columns=EXPORT_TRUSTED,
    )


def _export_rows(program: ReferralProgram):
    statuses = dict(Referrer.Status.choices)
    sources = dict(Referrer.Source.choices)
    # One reverse() for the whole file: every link differs only by its code.
    marker = "REFERRALCODE"
    before, after = links.site(reverse("referrals_public:visit", args=[marker])).split(marker)
    rows = (
        Referrer.objects.filter(program=program)
        .order_by("pk")
        .values_list(
            "name",
            "company",
            "email",
            "code",
            "status",
            "source",
            "visits",
            "signups",
            "successful",
            "created_at",
        )
        .iterator(chunk_size=2_000)
    )
    for name, company, email, code, status, source, visits, signups, ok, joined in rows:
        yield [
            name,
            company,
            email,
            code,
            f"{before}{code}{after}",
            statuses.get(status, status),
            sources.get(source, source),
            visits,
            signups,
            ok,
            timezone.localtime(joined, site_zone()).strftime("%Y-%m-%d %H:%M"),
        ]
