"""The participant CSV round-trip with 100,000 participants, on the PostgreSQL of DATABASE_URL.

A 100,000-row UTF-8 file is generated in memory with the headers First Name, Last Name,
Email, Phone, Date of Birth, External Reference, Group, Region, Notes, Price Code:
accented names, unique emails, unique external references (half of them zero-padded,
like 0012345), dates written 01/03/1990, phones written 0044 20 7946 0000, and a price
code on every row (STD or VIP). It goes through the services the Manage Participants
pages call, in this process: PARTICIPANT_IMPORT_SYNC_ROWS is raised above the row count,
so neither step is handed to Celery. The benchmark makes its own organisation, a contract
with the prefix BPX and code width 10, and its two prices.

Measured:

1. Validation: `participant_import_upload` (count the lines, store the file, read and
   check every row). The upload must be "valid", with 100,000 new participants and
   100,000 codes to issue. Target: ≤ 20 s.
2. Complete Import: `participant_import_complete` (the file is checked again under the
   contract's lock, then participants, their history rows and one code each are written
   in one transaction). It must be "done", and the contract must then hold 100,000
   participants and exactly 100,000 codes, each held by a different one of them.
   Target: ≤ 40 s. For both steps the time of the service's parts (checking the rows,
   writing participants and history, issuing codes, their SQL) is shown, from wrappers
   around the functions the service calls and around every SQL statement.
3. Download CSV with codes: a logged-in superuser's django.test.Client GETs
   `invitations:participant_export`; the stream is consumed chunk by chunk (and kept in a
   temporary file for step 4). 100,001 lines, and every row must carry its participant's
   code, price code and ID. Target: ≤ 3 s. A query still running after
   EXPORT_GUARD_SECONDS is cancelled (a MISS); its plan is printed, the participant and
   code tables are analysed, and the download is tried again.
4. Round-trip: the downloaded file, uploaded unchanged, must validate to 0 new, 0 updated
   and 0 codes to issue (and every row unchanged). Timed, no target.
5. Memory: the process's resident set size, sampled every 50 ms; for each phase the peak
   minus the level just before it.
6. Baseline: a plain django-import-export `ModelResource` for Participant with the default
   settings (one save() and its history row per row, no bulk), run with `import_data` on
   the first BASELINE_ROWS rows of the same file into a second contract, and extrapolated
   linearly to 100,000 rows. It issues no codes.

Each timed write starts right after a CHECKPOINT. Uploaded files go to a temporary
MEDIA_ROOT. Everything the benchmark made (codes, batches, imports, participants and their
history, prices, products, contracts, organisation, user, files) is deleted at the end,
also when it fails.

Environment: BENCH_BASELINE_ROWS (default 5,000) sizes the baseline sample;
BENCH_PARTICIPANT_ROWS (default 100,000) is for a quick try only, the targets are for
100,000 rows.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import islice
from typing import Any

import _setup
from _setup import Row, fmt_mb, fmt_s, print_table, timer

ROWS = int(os.environ.get("BENCH_PARTICIPANT_ROWS", "100000"))
BASELINE_ROWS = int(os.environ.get("BENCH_BASELINE_ROWS", "5000"))
PREFIX = "BPX"
WIDTH = 10
TARGET_VALIDATION_SECONDS = 20.0
TARGET_IMPORT_SECONDS = 40.0
TARGET_EXPORT_SECONDS = 3.0
# Download CSV is cut off after this long (a query plan gone wrong would otherwise run
# for many minutes); it is then retried after ANALYZED_TABLES are analysed.
EXPORT_GUARD_SECONDS = 60
ANALYZED_TABLES = ("contracts_participant", "invitations_invitationcode")
SEED = 20_240_301

HEADER = [
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Date of Birth",
    "External Reference",
    "Group",
    "Region",
    "Notes",
    "Price Code",
]
# The same columns as Participant fields, for the plain django-import-export resource.
FIELD_OF = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone": "phone",
    "Date of Birth": "date_of_birth",
    "External Reference": "external_reference",
    "Group": "group",
    "Region": "region",
    "Notes": "notes",
}

# --- the generated file ------------------------------------------------------------------


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = words(
    "Olivia Amelia Isla Ava Mia Sophia Grace Lily Freya Emily Oliver George Noah Arthur "
    "Harry Leo Jack Charlie Oscar Jacob Muhammad Thomas James William Henry Lucas Emma "
    "Léa Chloé Zoë Amélie Hélène José María Lucía Sofía Mateo Martín Søren Björn Åsa "
    "Jürgen Lukas Jonas Mila Łukasz Zofia Aoife Siobhán Niamh Seán Ana João Inês Giulia "
    "Matteo Francesco Aylin Emre Priya Arjun Wei Yuki Kenji Fatima Omar Nour Ngozi Kwame"
)
LAST_NAMES = (
    *words(
        "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson "
        "Evans Walker White Roberts Green Hall Wood Jackson Clarke Müller Schmidt Schneider "
        "Fischer Weber Meyer Wagner Becker García Martínez López Sánchez Pérez Gómez Dubois "
        "Lefèvre Moreau Laurent Girard Rossi Russo Ferrari Esposito Bianchi Nowak Kowalski "
        "Wiśniewski Jensen Nielsen Hansen Andersson Johansson Lindström Janssen Visser Smit "
        "O'Brien O'Connor Murphy Kelly Nguyen Tanaka Suzuki Kim Park Singh Patel Khan Okafor "
        "Mensah Silva Santos Costa Öztürk Yılmaz"
    ),
    "van der Berg",
    "de Vries",
    "Le Gall",
    "da Silva",
    "Mac Giolla",
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "corp.example")
GROUPS = (
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Human Resources",
    "Operations",
    "Customer Service",
    "Legal",
    "Research & Development",
    "Logistics",
)
REGIONS = (
    "London",
    "Scotland",
    "Île-de-France",
    "Bayern",
    "Baden-Württemberg",
    "Noord-Holland",
    "Cataluña",
    "Lombardia",
    "Zürich",
    "Mazowieckie",
    "Skåne",
    "Dublin",
)
NOTES = (
    "Vegetarian",
    "Needs parking, arrives Tuesday",
    'Prefers to be called "Sam"',
    "- allergic to nuts",
    "Wheelchair access required",
    "Plus one: María López",
    "Invoice to head office; PO 4711",
    "Arrives late (flight lands 18:40)",
    "+1 guest",
    "Speaker at the opening session",
)
_ASCII = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "ı": "i", "æ": "ae"})


def email_part(name: str) -> str:
    """A name as it would appear in an email address: ASCII, lower case, no spaces."""
    text = unicodedata.normalize("NFKD", name.translate(_ASCII))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    return "".join(ch for ch in text if ch.isalnum())


def phone_number(rng: random.Random, i: int) -> str:
    kind = i % 5
    if kind == 0:
        return f"0044 20 7946 {rng.randrange(10_000):04d}"
    if kind == 1:
        return f"+44 7700 900{rng.randrange(1_000):03d}"
    if kind == 2:
        return f"0049 30 {rng.randrange(10_000_000):07d}"
    if kind == 3:
        digits = [f"{rng.randrange(100):02d}" for _ in range(4)]
        return "0033 1 " + " ".join(digits)
    return ""  # one in five has no phone


def generate_file(rows: int) -> tuple[bytes, Counter]:
    """The participant CSV as bytes (UTF-8, CRLF line ends), and the price codes it asks for."""
    rng = random.Random(SEED)
    first_day = date(1950, 1, 1).toordinal()
    days = date(2006, 12, 31).toordinal() - first_day
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # Excel's dialect: CRLF, quotes only where needed
    writer.writerow(HEADER)
    prices: Counter = Counter()
    for i in range(1, rows + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{email_part(first)}.{email_part(last)}.{i}@{rng.choice(DOMAINS)}"
        born = "" if i % 20 == 0 else date.fromordinal(first_day + rng.randrange(days))
        reference = f"{i:07d}" if i % 2 == 0 else f"EMP-{i:06d}"
        price = "VIP" if rng.random() < 0.2 else "STD"
        prices[price] += 1
        writer.writerow(
            [
                first,
                last,
                email,
                phone_number(rng, i),
                born.strftime("%d/%m/%Y") if born else "",
                reference,
                rng.choice(GROUPS),
                rng.choice(REGIONS),
                rng.choice(NOTES) if rng.random() < 0.3 else "",
                price,
            ]
        )
    return buffer.getvalue().encode("utf-8"), prices


# --- where the time goes -------------------------------------------------------------------


class Breakdown(_setup.Breakdown):
    """Time spent in named service functions and in kinds of SQL statement during a block."""

    @staticmethod
    def kind(sql: str) -> str:
        head = sql.lstrip()[:6].upper()
        if head == "INSERT":
            target = sql.split(None, 3)[2].strip('"')
            return {
                "contracts_participant": "sql_insert_participants",
                "contracts_historicalparticipant": "sql_insert_history",
                "invitations_invitationcode": "sql_insert_codes",
            }.get(target, "sql_other")
        if head == "ANALYZ":
            return "sql_analyze"
        return "sql_other"

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Time the import service's steps (by wrapping the names its module calls) and
        every SQL statement of the default connection, for the duration of the block."""
        from django.db import connection, connections

        from invitations.services import participants as service

        names = {
            "plan_import": "plan",
            "_record_history": "history",
            "codes_issue_to_participants": "codes",
            "_record_verdict": "verdict",
        }
        originals = {name: getattr(service, name) for name in names}
        wrapper_class = type(connections["default"])
        original_commit = wrapper_class._commit
        for name, kind in names.items():
            setattr(service, name, self.timed(kind, originals[name]))
        wrapper_class._commit = self.timed("commit", original_commit)
        try:
            with connection.execute_wrapper(self):
                yield
        finally:
            for name, fn in originals.items():
                setattr(service, name, fn)
            wrapper_class._commit = original_commit

    def line(self, label: str, kind: str, *, count: str = "") -> Row:
        n = f" (×{self.counts[kind]:,}{count})" if self.counts[kind] > 1 else ""
        return Row(f"    {label}{n}", fmt_s(self.seconds[kind]))


def parse_seconds(data: bytes) -> float:
    """Seconds csvio.read_table takes to decode and split the whole file (a separate pass)."""
    from core import csvio

    return _setup.drain(csvio.read_table(data).rows)


# --- fixtures and clean-up -----------------------------------------------------------------


@dataclass
class Made:
    """Ids of what the benchmark created, for the clean-up."""

    organisation_id: int | None = None
    contract_ids: list[int] = field(default_factory=list)
    product_ids: list[int] = field(default_factory=list)
    user_id: int | None = None


def create_contracts(made: Made) -> tuple[Any, Any, dict[str, Any]]:
    """The organisation, the contract under test (prefix BPX, STD and VIP) and the
    baseline's contract, through the services."""
    from contracts import services
    from contracts.models import Contract

    stamp = time.time_ns()
    organisation = services.organisation_create(
        actor=None, name=_setup.ORGANISATION_NAME, code=f"BPX-{stamp}"
    )
    made.organisation_id = organisation.pk
    contract = services.contract_create(
        actor=None,
        organisation=organisation,
        name=f"Benchmark participants {stamp}",
        code="BPX",
        invitation_prefix=PREFIX,
        status=Contract.Status.ACTIVE,
        default_code_width=WIDTH,
    )
    made.contract_ids.append(contract.pk)
    prices = {}
    for code, name, amount in (("STD", "Standard pass", "49.00"), ("VIP", "VIP pass", "149.00")):
        prices[code] = services.contract_price_add(
            actor=None,
            contract=contract,
            product=None,
            price_code=code,
            amount=Decimal(amount),
            new_product_name=f"Benchmark {name}",
            new_product_base_price=Decimal(amount),
        )
        made.product_ids.append(prices[code].product_id)
    baseline = services.contract_create(
        actor=None,
        organisation=organisation,
        name=f"Benchmark participants baseline {stamp}",
        code="BPX-BASELINE",
        status=Contract.Status.ACTIVE,
        default_code_width=WIDTH,
    )
    made.contract_ids.append(baseline.pk)
    return contract, baseline, prices


def cleanup(made: Made) -> tuple[int, int]:
    """Delete everything the benchmark made; return how many participants and codes went."""
    from django.db import connection, transaction

    ids = made.contract_ids
    connection.close_if_unusable_or_obsolete()  # after a lost connection: a new one
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "DELETE FROM invitations_historicalinvitationcode WHERE contract_id = ANY(%s)", [ids]
        )
        cur.execute("DELETE FROM invitations_invitationcode WHERE contract_id = ANY(%s)", [ids])
        codes = cur.rowcount
        cur.execute("DELETE FROM invitations_codebatch WHERE contract_id = ANY(%s)", [ids])
        cur.execute("DELETE FROM invitations_participantimport WHERE contract_id = ANY(%s)", [ids])
        cur.execute(
            "DELETE FROM contracts_historicalparticipant WHERE contract_id = ANY(%s)", [ids]
        )
        cur.execute("DELETE FROM contracts_participant WHERE contract_id = ANY(%s)", [ids])
        participants = cur.rowcount
        cur.execute(
            "DELETE FROM contracts_historicalcontractprice WHERE contract_id = ANY(%s)", [ids]
        )
        cur.execute("DELETE FROM contracts_contractprice WHERE contract_id = ANY(%s)", [ids])
        cur.execute("DELETE FROM contracts_historicalcontract WHERE id = ANY(%s)", [ids])
        cur.execute("DELETE FROM contracts_contract WHERE id = ANY(%s)", [ids])
        if made.product_ids:
            cur.execute(
                """
                DELETE FROM contracts_product p WHERE p.id = ANY(%s)
                AND NOT EXISTS (SELECT 1 FROM contracts_contractprice cp WHERE cp.product_id = p.id)
                RETURNING p.id
                """,
                [made.product_ids],
            )
            gone = [r[0] for r in cur.fetchall()]
            cur.execute("DELETE FROM contracts_historicalproduct WHERE id = ANY(%s)", [gone])
        if made.organisation_id is not None:
            cur.execute(
                """
                DELETE FROM contracts_organisation o WHERE o.id = %s
                AND NOT EXISTS (SELECT 1 FROM contracts_contract c WHERE c.organisation_id = o.id)
                """,
                [made.organisation_id],
            )
            if cur.rowcount:
                cur.execute(
                    "DELETE FROM contracts_historicalorganisation WHERE id = %s",
                    [made.organisation_id],
                )
        if made.user_id is not None:
            from django.contrib.auth import get_user_model

            get_user_model().objects.filter(pk=made.user_id).delete()
    if participants or codes:
        # Make the space of the deleted rows reusable now, rather than when autovacuum
        # gets to it in the middle of the next measurement.
        with connection.cursor() as cur:
            for table in (
                "contracts_participant",
                "contracts_historicalparticipant",
                "invitations_invitationcode",
            ):
                cur.execute(f"VACUUM (ANALYZE) {table}")
    return participants, codes


# --- the measured phases -------------------------------------------------------------------


@dataclass
class Phase:
    seconds: float = 0.0
    rss_before: int = 0
    rss_peak: int = 0
    samples: int = 0

    @property
    def growth(self) -> int:
        return self.rss_peak - self.rss_before


@contextmanager
def measured() -> Iterator[Phase]:
    """Time a block and sample its RSS; the phase's figures are set when it ends."""
    phase = Phase()
    gc.collect()
    phase.rss_before = _setup.current_rss()
    try:
        with _setup.RssSampler(0.05) as sampler, timer() as t:
            yield phase
    finally:
        phase.seconds = t.seconds
        phase.rss_peak = sampler.peak
        phase.samples = sampler.samples


def upload(contract: Any, data: bytes, name: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from invitations import services

    return services.participant_import_upload(
        actor=None,
        contract=contract,
        file=SimpleUploadedFile(name, data, content_type="text/csv"),
        width=None,
        update_existing=False,
    )


@dataclass
class Download:
    phase: Phase
    data: bytes = b""
    lines: int = 0
    chunks: int = 0
    timed_out: bool = False


def download(client: Any, url: str) -> Download:
    """GET the Download CSV link and consume the stream chunk by chunk, into a temporary
    file (kept for the round-trip).

    A watchdog cancels the export's query after EXPORT_GUARD_SECONDS. (A statement
    timeout would not: outside a transaction Django declares the server-side cursor
    WITH HOLD, and PostgreSQL runs such a query to its end while committing, after the
    statement timeout has been switched off.)
    """
    from django.db import OperationalError, connection

    result = Download(Phase())
    connection.ensure_connection()
    backend_pid = connection.connection.info.backend_pid
    watchdog = threading.Timer(EXPORT_GUARD_SECONDS, cancel_export_query, [backend_pid])
    watchdog.start()
    try:
        with tempfile.TemporaryFile() as sink:
            with measured() as result.phase:
                response = client.get(url)
                if response.status_code != 200 or not response.streaming:
                    raise RuntimeError(
                        f"GET {url}: status {response.status_code}, streaming {response.streaming}"
                    )
                for chunk in response.streaming_content:
                    result.lines += chunk.count(b"\n")
                    result.chunks += 1
                    sink.write(chunk)
                response.close()
            sink.seek(0)
            result.data = sink.read()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled
            raise
        result.timed_out = True
    finally:
        watchdog.cancel()
        watchdog.join()
    return result


def cancel_export_query(backend_pid: int) -> None:
    """Cancel the export's query (its DECLARE of the server-side cursor) if still running;
    runs in the watchdog's thread, so on a connection of its own."""
    from django.db import connection

    try:
        with connection.cursor() as cur:
            cur.execute(
                """
                SELECT pg_cancel_backend(pid) FROM pg_stat_activity
                WHERE pid = %s AND state = 'active' AND query LIKE 'DECLARE%%'
                """,
                [backend_pid],
            )
    finally:
        connection.close()


def export_plan(contract: Any) -> list[str]:
    """EXPLAIN of the export's query (rebuilt as selectors.participant_export_rows makes
    it): the scans it chose, for the current-code lookups in particular."""
    from django.db import connection

    from invitations import selectors
    from invitations.resources import COLUMNS

    annotation = {
        "price_code": "x_price_code",
        "invitation_code": "x_code",
        "code_status": "x_code_state",
    }
    queryset = selectors.with_current_code(contract.participants.order_by("id"))
    names = [annotation.get(c.field, c.field) for c in COLUMNS]
    sql, params = queryset.values_list(*names).query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + sql, params)
        plan = [r[0] for r in cur.fetchall()]
    return [line.strip().removeprefix("->").strip() for line in plan if "Scan" in line]


def analyze() -> float:
    """ANALYZE the tables the import filled (what autovacuum does some time after it)."""
    from django.db import connection

    with timer() as t, connection.cursor() as cur:
        for table in ANALYZED_TABLES:
            cur.execute(f"ANALYZE {table}")
    return t.seconds


def check_database(contract: Any, prices: dict[str, Any]) -> dict[str, int]:
    """What the import wrote, counted in the database."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM contracts_participant WHERE contract_id = %s", [contract.pk]
        )
        participants = cur.fetchone()[0]
        cur.execute(
            """
            SELECT count(*), count(c.participant_id), count(DISTINCT c.participant_id),
                   count(p.id), count(*) FILTER (WHERE c.code LIKE %s),
                   count(*) FILTER (WHERE c.price_id = %s), count(*) FILTER (WHERE c.price_id = %s)
            FROM invitations_invitationcode c
            LEFT JOIN contracts_participant p ON p.id = c.participant_id AND p.contract_id = %s
            WHERE c.contract_id = %s
            """,
            [f"{PREFIX}%", prices["STD"].pk, prices["VIP"].pk, contract.pk, contract.pk],
        )
        codes, assigned, distinct, in_contract, prefixed, std, vip = cur.fetchone()
        cur.execute(
            """
            SELECT count(*) FROM contracts_participant p WHERE p.contract_id = %s
            AND NOT EXISTS (
                SELECT 1 FROM invitations_invitationcode c WHERE c.participant_id = p.id
            )
            """,
            [contract.pk],
        )
        without_code = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM contracts_historicalparticipant WHERE contract_id = %s",
            [contract.pk],
        )
        history = cur.fetchone()[0]
    return {
        "participants": participants,
        "codes": codes,
        "assigned": assigned,
        "distinct": distinct,
        "in_contract": in_contract,
        "prefixed": prefixed,
        "STD": std,
        "VIP": vip,
        "without_code": without_code,
        "history": history,
    }


def check_download(contract: Any, data: bytes) -> dict[str, Any]:
    """Compare every row of the downloaded file with the database: ID, code, price code."""
    from invitations.models import InvitationCode
    from invitations.resources import HEADERS

    held = {
        pid: (code, price_code)
        for pid, code, price_code in InvitationCode.objects.filter(contract=contract).values_list(
            "participant_id", "code", "price__price_code"
        )
    }
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader)
    column = {name: header.index(name) for name in ("ID", "Invitation Code", "Price Code")}
    rows = matching = 0
    sample: list[str] = []
    for cells in reader:
        rows += 1
        pid = int(cells[column["ID"]])
        code, price_code = held.get(pid, (None, None))
        if cells[column["Invitation Code"]] == code and cells[column["Price Code"]] == price_code:
            matching += 1
        if rows == len(held) // 2:
            sample = cells
    return {
        "header_ok": header == HEADERS,
        "rows": rows,
        "matching": matching,
        "sample": dict(zip(header, sample, strict=False)),
    }


# --- the plain django-import-export baseline -----------------------------------------------


def baseline_dataset(data: bytes, rows: int) -> Any:
    """The first `rows` rows of the file as a tablib Dataset with Participant field names
    as headers, dates in ISO (the default DateWidget's format), and no Price Code."""
    import tablib

    from invitations.imports import parse_date

    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    keep = [header.index(name) for name in FIELD_OF]
    born = header.index("Date of Birth")
    dataset = tablib.Dataset(headers=list(FIELD_OF.values()))
    for cells in islice(reader, rows):
        if cells[born]:
            cells[born] = parse_date(cells[born]).isoformat()
        dataset.append([cells[i] for i in keep])
    return dataset


def plain_resource(contract_id: int) -> Any:
    """A ModelResource as the django-import-export documentation writes one: the model's
    fields, default options (no bulk, no batch size, diffs kept), the contract set per row."""
    from import_export import resources

    from contracts.models import Participant

    class PlainParticipantResource(resources.ModelResource):
        class Meta:
            model = Participant
            # "id" is the default import_id_fields; the file has no ID column, so every
            # row is a new participant.
            fields = ("id", *FIELD_OF.values(), "contract")

        def before_import_row(self, row: Any, **kwargs: Any) -> None:
            row["contract"] = contract_id

    return PlainParticipantResource()


# --- main ----------------------------------------------------------------------------------


def main() -> int:
    _setup.bootstrap()
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.urls import reverse

    from contracts.models import Participant
    from invitations import services
    from invitations.models import ParticipantImport

    # Checked and imported in this process, not handed to a Celery task.
    settings.PARTICIPANT_IMPORT_SYNC_ROWS = 10**9
    media = tempfile.mkdtemp(prefix="bench-media-")
    settings.MEDIA_ROOT = media
    if not default_storage.path("x").startswith(media):
        raise RuntimeError("the uploads would not go to the temporary MEDIA_ROOT")

    made = Made()
    failures: list[str] = []
    try:
        contract, baseline_contract, prices = create_contracts(made)

        with measured() as gen:
            data, asked = generate_file(ROWS)
        print(
            f"generated {ROWS:,} participants ({asked['STD']:,} STD, {asked['VIP']:,} VIP): "
            f"{fmt_mb(len(data))} of CSV in {fmt_s(gen.seconds)}; contract {contract.pk}, "
            f"prefix {PREFIX}, width {WIDTH}",
            flush=True,
        )

        # 1. Validation.
        validation_bd = Breakdown()
        _setup.checkpoint()
        with validation_bd.recording(), measured() as validation:
            checked = upload(contract, data, "bench.csv")
        summary, checked_status = checked.summary, checked.status
        validation_ok = (
            checked_status == ParticipantImport.Status.VALID
            and summary.get("new") == ROWS
            and summary.get("codes") == ROWS
        )
        if not validation_ok:
            failures.append(
                f"validation: status {checked_status}, summary {summary}, "
                f"first issues {checked.issues[:5]}"
            )
        print(f"validation done in {fmt_s(validation.seconds)}", flush=True)

        # 2. Complete Import.
        import_bd = Breakdown()
        imported = None
        if validation_ok:
            _setup.checkpoint()
            with import_bd.recording(), measured() as importing:
                imported = services.participant_import_complete(
                    actor=None, participant_import=checked
                )
            print(f"import done in {fmt_s(importing.seconds)}", flush=True)
        else:
            importing = Phase()
        counts = check_database(contract, prices)
        import_ok = (
            imported is not None
            and imported.status == ParticipantImport.Status.DONE
            and counts["participants"] == ROWS
            and counts["codes"] == ROWS
            and counts["assigned"] == ROWS
            and counts["distinct"] == ROWS
            and counts["in_contract"] == ROWS
            and counts["without_code"] == 0
            and counts["STD"] == asked["STD"]
            and counts["VIP"] == asked["VIP"]
        )
        if not import_ok:
            state = "not run" if imported is None else f"{imported.status} {imported.error}"
            failures.append(f"import: {state}; database {counts}")

        # 3. Download CSV with codes, right after the import (as staff would click it).
        user = _setup.create_superuser()
        made.user_id = user.pk
        client = _setup.logged_in_client(user)
        url = reverse("invitations:participant_export", args=[contract.pk])
        try:
            first = download(client, url)
            retry_rows: list[Row] = []
            export = first
            if first.timed_out:
                plan = export_plan(contract)
                analyze_seconds = analyze()
                export = download(client, url)
                retry_rows = [
                    Row("    the export query's scans, as planned before ANALYZE:", ""),
                    *(Row(f"      {line[:96]}", "") for line in plan),
                    Row(f"    ANALYZE {', '.join(ANALYZED_TABLES)}", fmt_s(analyze_seconds)),
                    Row(
                        "3b. Download CSV with codes, after that ANALYZE",
                        f"timed out after {EXPORT_GUARD_SECONDS} s"
                        if export.timed_out
                        else fmt_s(export.phase.seconds),
                        f"target ≤ {TARGET_EXPORT_SECONDS:.0f} s",
                        not export.timed_out and export.phase.seconds <= TARGET_EXPORT_SECONDS,
                    ),
                ]
        finally:
            client.logout()
        if export.timed_out:
            print_table(f"Download CSV of contract {contract.pk}: cancelled twice", retry_rows)
            raise RuntimeError(f"Download CSV did not finish within {EXPORT_GUARD_SECONDS} s")
        exported = export.data
        n_lines = export.lines
        export_rows = n_lines - 1
        found = check_download(contract, exported)
        export_ok = (
            n_lines == ROWS + 1
            and found["header_ok"]
            and found["rows"] == ROWS
            and found["matching"] == ROWS
        )
        if not export_ok:
            failures.append(
                f"download: {n_lines:,} lines, header ok {found['header_ok']}, "
                f"{found['matching']:,} of {found['rows']:,} rows with their code"
            )

        # 4. Round-trip: the downloaded file, unchanged.
        with measured() as roundtrip:
            again = upload(contract, exported, "roundtrip.csv")
        back = again.summary
        roundtrip_ok = (
            again.status == ParticipantImport.Status.VALID
            and back.get("new") == 0
            and back.get("updated") == 0
            and back.get("codes") == 0
        )
        unchanged_ok = back.get("unchanged") == ROWS and back.get("already_hold") == ROWS
        if not roundtrip_ok:
            failures.append(
                f"round-trip: status {again.status}, summary {back}, "
                f"first issues {again.issues[:5]}"
            )
        elif not unchanged_ok:
            failures.append(f"round-trip: not every row unchanged: {back}")
        read_pass = parse_seconds(data)

        # 6. Baseline: plain django-import-export on the first BASELINE_ROWS rows.
        sample_rows = min(BASELINE_ROWS, ROWS)
        dataset = baseline_dataset(data, sample_rows)
        resource = plain_resource(baseline_contract.pk)
        _setup.checkpoint()
        with measured() as plain:
            result = resource.import_data(dataset, dry_run=False)
        plain_stored = Participant.objects.filter(contract=baseline_contract).count()
        plain_ok = (
            not result.has_errors()
            and not result.has_validation_errors()
            and result.totals.get("new") == sample_rows
            and plain_stored == sample_rows
        )
        if not plain_ok:
            failures.append(
                f"plain import: totals {dict(result.totals)}, {plain_stored:,} stored, "
                f"errors {result.has_errors()}, invalid {result.has_validation_errors()}"
            )
        plain_rate = sample_rows / plain.seconds
        plain_projected = ROWS / plain_rate
        ours = validation.seconds + importing.seconds
        ratio = plain_projected / ours if ours else 0.0

        # --- report ---
        s = validation_bd.seconds
        print_table(
            f"Participant CSV round-trip: {ROWS:,} rows, contract {contract.pk} "
            f"(prefix {PREFIX}, width {WIDTH})",
            [
                Row("file generated in memory", fmt_mb(len(data))),
                Row(
                    "1. Validation (participant_import_upload)",
                    fmt_s(validation.seconds),
                    f"target ≤ {TARGET_VALIDATION_SECONDS:.0f} s",
                    validation.seconds <= TARGET_VALIDATION_SECONDS,
                ),
                Row(
                    "    status, new, codes to issue",
                    f"{checked_status}, {summary.get('new', 0):,}, {summary.get('codes', 0):,}",
                    f"valid, {ROWS:,}, {ROWS:,}",
                    validation_ok,
                ),
                Row("    rate", f"{ROWS / validation.seconds:,.0f} rows/s"),
                Row("    reading and checking the rows (plan_import)", fmt_s(s["plan"])),
                Row(
                    "      of which decoding and splitting the CSV (separate pass)",
                    fmt_s(read_pass),
                ),
                Row(
                    "    counting lines, storing the file, recording the verdict",
                    fmt_s(validation.seconds - s["plan"]),
                ),
                Row(
                    "2. Complete Import (participant_import_complete)",
                    fmt_s(importing.seconds),
                    f"target ≤ {TARGET_IMPORT_SECONDS:.0f} s",
                    importing.seconds <= TARGET_IMPORT_SECONDS,
                ),
                Row(
                    "    status; participants, codes, distinct holders in the database",
                    f"{imported.status if imported else 'not run'}; {counts['participants']:,}, "
                    f"{counts['codes']:,}, {counts['distinct']:,}",
                    f"done; {ROWS:,} each",
                    import_ok,
                ),
                Row(
                    "    codes STD / VIP (as in the file); history rows",
                    f"{counts['STD']:,} / {counts['VIP']:,}; {counts['history']:,}",
                ),
                Row(
                    "    rate",
                    f"{ROWS / importing.seconds:,.0f} rows/s" if importing.seconds else "–",
                ),
                import_bd.line("checking the file again, under the lock (plan_import)", "plan"),
                import_bd.line("INSERT participants (bulk_create)", "sql_insert_participants"),
                import_bd.line("history rows (_record_history, INSERT…SELECT)", "history"),
                import_bd.line("issuing the codes (codes_issue_to_participants)", "codes"),
                import_bd.line("  INSERT…SELECT codes", "sql_insert_codes"),
                import_bd.line("commit", "commit"),
                import_bd.line("ANALYZE after the import", "sql_analyze"),
                Row(
                    "    rest (building the plan's rows, batches, other SQL, Python)",
                    fmt_s(
                        importing.seconds
                        - sum(
                            import_bd.seconds[k]
                            for k in (
                                "plan",
                                "sql_insert_participants",
                                "history",
                                "codes",
                                "commit",
                                "sql_analyze",
                            )
                        )
                    ),
                ),
                Row(
                    "3. Download CSV with codes (GET participant_export)",
                    f"timed out after {EXPORT_GUARD_SECONDS} s"
                    if first.timed_out
                    else fmt_s(first.phase.seconds),
                    f"target ≤ {TARGET_EXPORT_SECONDS:.0f} s",
                    not first.timed_out and first.phase.seconds <= TARGET_EXPORT_SECONDS,
                ),
                *retry_rows,
                Row("    throughput", f"{export_rows / export.phase.seconds:,.0f} rows/s"),
                Row(
                    "    lines (header + rows); rows with their code",
                    f"{n_lines:,}; {found['matching']:,}",
                    f"{ROWS + 1:,}; {ROWS:,}",
                    export_ok,
                ),
                Row("    bytes, chunks streamed", f"{fmt_mb(len(exported))}, {export.chunks:,}"),
                Row(
                    "    a sample row: ID, Invitation Code, Price Code, Code Status",
                    ", ".join(
                        found["sample"].get(k, "?")
                        for k in ("ID", "Invitation Code", "Price Code", "Code Status")
                    ),
                ),
                Row("4. Round-trip: the download uploaded unchanged", fmt_s(roundtrip.seconds)),
                Row(
                    "    status; new, updated, codes to issue",
                    f"{again.status}; {back.get('new', 0):,}, {back.get('updated', 0):,}, "
                    f"{back.get('codes', 0):,}",
                    "valid; 0, 0, 0",
                    roundtrip_ok,
                ),
                Row(
                    "    unchanged, already holding their code",
                    f"{back.get('unchanged', 0):,}, {back.get('already_hold', 0):,}",
                    f"{ROWS:,}, {ROWS:,}",
                    unchanged_ok,
                ),
            ],
        )
        print_table(
            "Peak memory growth per phase (RSS sampled every 50 ms, peak − before)",
            [
                Row("generating the file", fmt_mb(gen.growth)),
                Row("1. Validation", fmt_mb(validation.growth)),
                Row("2. Complete Import", fmt_mb(importing.growth)),
                Row("3. Download CSV (streamed to a temporary file)", fmt_mb(export.phase.growth)),
                Row("4. Round-trip validation", fmt_mb(roundtrip.growth)),
                Row(f"plain django-import-export, {sample_rows:,} rows", fmt_mb(plain.growth)),
                Row("RSS at the end", fmt_mb(_setup.current_rss())),
            ],
        )
        print_table(
            "Comparison with a plain django-import-export ModelResource (default settings)",
            [
                Row(
                    "plain import_data, rows imported (no codes)",
                    f"{result.totals.get('new', 0):,} of {sample_rows:,}",
                    f"{sample_rows:,} stored",
                    plain_ok,
                ),
                Row("plain import_data time", fmt_s(plain.seconds)),
                Row("plain rate", f"{plain_rate:,.0f} rows/s"),
                Row(f"plain, extrapolated to {ROWS:,} rows", fmt_s(plain_projected)),
                Row("ours: validation + Complete Import", fmt_s(ours)),
                Row("ours, rate", f"{ROWS / ours:,.0f} rows/s"),
                Row("extrapolated plain ÷ ours", f"{ratio:,.1f}×"),
            ],
        )
        print(
            f"\nplain django-import-export: {sample_rows:,} rows in {plain.seconds:.2f} s → "
            f"{plain_rate:,.0f} rows/s, extrapolated to {ROWS:,} rows: {plain_projected:,.1f} s"
        )
        print(
            f"ours: validation {validation.seconds:.2f} s + Complete Import "
            f"{importing.seconds:.2f} s = {ours:.2f} s for {ROWS:,} participants and "
            f"{counts['codes']:,} invitation codes → {ratio:,.1f}× faster than the plain "
            f"import extrapolated. Ours also checks every row and issues {ROWS:,} codes; "
            "the plain one issues none (and by default does not validate the rows)."
        )
    finally:
        try:
            with timer() as t:
                participants, codes = cleanup(made)
        finally:
            shutil.rmtree(media, ignore_errors=True)
        print(
            f"\nclean-up: {participants:,} participants and {codes:,} codes deleted, "
            f"tables vacuumed, uploads removed in {fmt_s(t.seconds)}",
            flush=True,
        )
    for failure in failures:
        print(f"participants_csv: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
