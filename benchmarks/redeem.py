"""Redeeming invitation codes through the API under load, on the PostgreSQL of DATABASE_URL.

The app runs under gunicorn (`config.wsgi`, bound to 127.0.0.1 on a free port) as in
production: DEBUG=False, CACHE_URL on Redis database 9 (the per-token throttle is shared
by the workers; that database is flushed before and after), a dummy email backend (Celery
without a broker sends the confirmation email in the request, as the embedded mode does),
and CODES_API_RATE raised so that the benchmark's single token is not throttled. Requests
carry `X-Forwarded-Proto: https`, as from the TLS proxy in front of the app in production.

The load comes from this process: asyncio and raw HTTP/1.1 over CONCURRENCY connections
(keep-alive where the worker class has it), CONCURRENCY requests in flight at any time.
The CPU time each part used during the measurement is printed per redemption: the
gunicorn processes, PostgreSQL (every process of the server, so other databases' work
too), the load generator, and the rest of the machine (other people's work, which the
throughput suffers from); the ceiling is what 2 cores would allow this benchmark alone.

Data: a fresh active contract with a price, REDEEMS + WARMUP participants (bulk insert)
each holding one assigned single-use code (issued set-based, as the participant import
does), 100 unassigned single-use codes (a generated batch), and a staff user in the
Support role with an API token.

Measured:

1. Redemptions: `POST /api/v1/codes/redeem` with `{"code": ...}`, a token and a unique
   Idempotency-Key, each code once; WARMUP requests first (not counted), then REDEEMS,
   or as many as are sent in MEASURE_LIMIT_S. Every answer must be 201, and a booking
   stored for each. Target: ≥ 300 redemptions/s with p99 < 150 ms.
2. The storm: 1,000 requests over the 100 unassigned codes (10 each, in random order,
   CONCURRENCY in flight), each for another person. Exactly 100 bookings must exist for
   those codes afterwards, each code used once, and the other 900 answers must be 422
   with reason "used_up" (a correctness check: the script exits 1 when it fails).

Before the server starts, one redemption runs in this process through django.test.Client
to count its SQL statements (printed, no target).

Environment: BENCH_REDEEMS (default 4,000), BENCH_REDEEM_SECONDS (30),
BENCH_REDEEM_CONCURRENCY (16), and to try another server configuration
BENCH_REDEEM_WORKERS, BENCH_REDEEM_WORKER_CLASS, BENCH_REDEEM_THREADS and
BENCH_REDEEM_CONN_MAX_AGE (see DEFAULT_* below for the chosen one and why).
Everything made is removed at the end, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import _setup
from _setup import Row, fmt_s, print_table

REDEEMS = int(os.environ.get("BENCH_REDEEMS", 4_000))
WARMUP = 300
CONCURRENCY = int(os.environ.get("BENCH_REDEEM_CONCURRENCY", 16))
# No request is sent after this many seconds of measurement (the run stays short when
# the API is slow); the rate is of the requests answered.
MEASURE_LIMIT_S = float(os.environ.get("BENCH_REDEEM_SECONDS", 30))
STORM_CODES = 100
STORM_PER_CODE = 10
TARGET_RATE = 300
TARGET_P99_MS = 150

# The server configuration. Compared on 2 cores with CONN_MAX_AGE=60, 20 s each, when no
# one else used the machine: 4 sync workers 81/s, p99 273 ms; 3 sync 72-75/s, p99 300-324
# ms; 2 sync 55-72/s with the cores 88 % busy (a worker waiting for PostgreSQL leaves its
# core idle); gthread 2 × 4 threads 70-80/s, p99 377-518 ms and 3 × 4 76/s, p99 530 ms
# (threads of one process queue for the GIL: a longer tail). The work is CPU-bound: 4 sync
# workers, as docs/operations.md runs gunicorn, keep both cores busy with the tightest tail.
# CONN_MAX_AGE=60: with the default 0 every request opens a PostgreSQL connection, a new
# backend whose catalog caches start cold; that cost 18.5 instead of 7.2 ms of PostgreSQL
# CPU and 23 instead of 20 ms of gunicorn CPU per redemption (28/s instead of 42/s).
DEFAULT_WORKERS = 4
DEFAULT_WORKER_CLASS = "sync"
DEFAULT_THREADS = 1
DEFAULT_CONN_MAX_AGE = "60"
WORKERS = int(os.environ.get("BENCH_REDEEM_WORKERS", DEFAULT_WORKERS))
WORKER_CLASS = os.environ.get("BENCH_REDEEM_WORKER_CLASS", DEFAULT_WORKER_CLASS)
THREADS = int(os.environ.get("BENCH_REDEEM_THREADS", DEFAULT_THREADS))
CONN_MAX_AGE = os.environ.get("BENCH_REDEEM_CONN_MAX_AGE", DEFAULT_CONN_MAX_AGE)

HOST = "127.0.0.1"
REDIS_DB = 9
CACHE_URL = f"redis://{HOST}:6379/{REDIS_DB}"
BROKER_URL = CACHE_URL  # emptied with the cache at the end
CODES_API_RATE = "1000000/min"
PATH = "/api/v1/codes/redeem"
START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 30


# --- data ------------------------------------------------------------------------------


@dataclass
class Made:
    contract_id: int | None = None
    user_id: int | None = None


@dataclass
class Data:
    contract_id: int
    assigned: list[str]
    storm: list[str]
    storm_ids: list[int]
    token: str


def make_data(made: Made, participants: int) -> Data:
    """The contract, its participants with one assigned code each, the storm's codes and
    a Support user with a token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from contracts.models import Participant
    from core import roles
    from invitations.models import CodeBatch, InvitationCode
    from invitations.services import code_batch_create
    from invitations.services.generation import codes_issue_to_participants

    fixture = _setup.create_contract("redeem")
    made.contract_id = contract_id = fixture.contract.pk
    contract = fixture.contract
    people = Participant.objects.bulk_create(
        Participant(
            contract=contract,
            first_name="Bench",
            last_name=f"Person {i}",
            email=f"person{i}@example.com",
        )
        for i in range(participants)
    )
    with transaction.atomic():
        # The log row the participant import writes for the codes it issues.
        batch = CodeBatch.objects.create(
            contract=contract,
            price=fixture.price,
            prefix=contract.invitation_prefix,
            quantity=len(people),
            width=_setup.SHARED_WIDTH,
            max_uses=1,
            note="Benchmark: issued to participants",
            status=CodeBatch.Status.DONE,
            finished_at=timezone.now(),
        )
        codes_issue_to_participants(batch=batch, participant_ids=[p.pk for p in people])
    storm_batch = code_batch_create(
        actor=None,
        contract=contract,
        price=fixture.price,
        quantity=STORM_CODES,
        width=_setup.SHARED_WIDTH,
    )
    _setup.verify_batch(storm_batch, STORM_CODES)
    assigned = list(
        InvitationCode.objects.filter(batch=batch, participant__isnull=False)
        .order_by("participant_id")
        .values_list("code", flat=True)
    )
    storm = list(
        InvitationCode.objects.filter(batch=storm_batch, participant__isnull=True).values_list(
            "id", "code"
        )
    )
    if len(assigned) != participants or len(storm) != STORM_CODES:
        raise RuntimeError(f"{len(assigned)} assigned and {len(storm)} storm codes made")
    user = get_user_model().objects.create_user(
        username=f"bench-support-{time.time_ns()}",
        email="support@example.invalid",
        password=None,
        is_staff=True,
    )
    made.user_id = user.pk
    user.groups.add(Group.objects.get(name=roles.SUPPORT))
    token = Token.objects.create(user=user).key
    with connection.cursor() as cur:
        cur.execute("ANALYZE contracts_participant")
        cur.execute("ANALYZE invitations_invitationcode")
    print(
        f"contract {contract_id}: {participants:,} participants with an assigned code each, "
        f"{STORM_CODES} unassigned codes; Support user {user.username} with a token",
        flush=True,
    )
    return Data(
        contract_id=contract_id,
        assigned=assigned,
        storm=[code for _, code in storm],
        storm_ids=[pk for pk, _ in storm],
        token=token,
    )


def cleanup(made: Made) -> None:
    """Delete the bookings, attempts, codes, participants and the contract, then the user."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    ids = [made.contract_id] if made.contract_id else []
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM invitations_redemptionattempt WHERE contract_id = ANY(%s)", [ids])
        cur.execute(
            "DELETE FROM invitations_bookingvoid WHERE booking_id IN "
            "(SELECT id FROM invitations_booking WHERE contract_id = ANY(%s))",
            [ids],
        )
        cur.execute("DELETE FROM invitations_booking WHERE contract_id = ANY(%s)", [ids])
        bookings = cur.rowcount
        cur.execute(
            "DELETE FROM invitations_historicalinvitationcode WHERE contract_id = ANY(%s)", [ids]
        )
        cur.execute("DELETE FROM invitations_invitationcode WHERE contract_id = ANY(%s)", [ids])
        codes = cur.rowcount
        cur.execute(
            "DELETE FROM contracts_historicalparticipant WHERE contract_id = ANY(%s)", [ids]
        )
        cur.execute("DELETE FROM contracts_participant WHERE contract_id = ANY(%s)", [ids])
        participants = cur.rowcount
        if made.user_id:
            # Attempts without a contract (none expected) by the benchmark's user.
            cur.execute(
                "DELETE FROM invitations_redemptionattempt WHERE user_id = %s", [made.user_id]
            )
    if made.contract_id:
        _setup.cleanup(made.contract_id, vacuum=False)
    if made.user_id:
        Token.objects.filter(user_id=made.user_id).delete()
        get_user_model().objects.filter(pk=made.user_id).delete()
    print(
        f"\nclean-up: {bookings:,} bookings, {codes:,} codes, {participants:,} participants, "
        "the contract and the user removed",
        flush=True,
    )


def queued_emails() -> int:
    import redis

    return redis.Redis(host=HOST, port=6379, db=REDIS_DB).llen("default")


def flush_cache() -> None:
    import redis

    redis.Redis(host=HOST, port=6379, db=REDIS_DB).flushdb()


# --- queries of one redemption ---------------------------------------------------------


def query_count(token: str, code: str) -> tuple[int, Counter]:
    """Redeem one code in this process (django.test.Client) and count its SQL statements,
    by statement and table (a SELECT by the first table it reads)."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            PATH, {"code": code}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="q-1"
        )
    if response.status_code != 201:
        raise RuntimeError(f"in-process redemption: {response.status_code} {response.content!r}")
    kinds: Counter = Counter()
    for query in queries.captured_queries:
        sql = query["sql"]
        verb = sql.split(None, 1)[0].upper()
        table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql)
        kinds[f"{verb} {table.group(1)}" if table else verb] += 1
    return len(queries.captured_queries), kinds


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(port: int) -> list[str]:
    """gunicorn as `docs/operations.md` runs it, on 127.0.0.1 (the workers: DEFAULT_*)."""
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        WORKER_CLASS,
        "--timeout",
        "60",
    ]
    if WORKER_CLASS == "gthread":
        command += ["--threads", str(THREADS)]
    return command


def server_env() -> dict[str, str]:
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": f"bench-{time.time_ns()}-not-a-secret",
        "ALLOWED_HOSTS": HOST,
        "CACHE_URL": CACHE_URL,
        "EMAIL_URL": "dummymail://",
        # As in production: the confirmation email is queued for a worker (none runs here;
        # the queue is emptied at the end), not sent in the request.
        "CELERY_BROKER_URL": BROKER_URL,
        "CODES_API_RATE": CODES_API_RATE,
        "CONN_MAX_AGE": CONN_MAX_AGE,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def describe_server() -> str:
    threads = f", {THREADS} threads each" if WORKER_CLASS == "gthread" else ""
    return f"{WORKERS} {WORKER_CLASS} workers{threads}, CONN_MAX_AGE={CONN_MAX_AGE}"


@dataclass
class Server:
    port: int
    pid: int


@contextmanager
def server() -> Iterator[Server]:
    """Start gunicorn, wait until it answers, yield its port and pid; stop it at the end.

    Its output goes to a temporary file: the end of it is printed when something fails,
    and the number of error lines (tracebacks) in it at the end.
    """
    port = free_port()
    with tempfile.TemporaryFile(prefix="bench-redeem-gunicorn-") as log:
        proc = subprocess.Popen(
            server_command(port),
            env=server_env(),
            cwd=_setup.ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with _setup.timer() as t:
                wait_until_answering(proc, port)
            print(
                f"server: gunicorn config.wsgi on {HOST}:{port}, {describe_server()}; "
                f"DEBUG=False, CACHE_URL={CACHE_URL}, CELERY_BROKER_URL={BROKER_URL} (emails "
                "queued, no worker on this machine); "
                f"answering after {fmt_s(t.seconds)}",
                flush=True,
            )
            print(
                f"server: CODES_API_RATE={CODES_API_RATE} (set so the per-token throttle lets "
                "the benchmark's single token through; the default is 1200/min)",
                flush=True,
            )
            if (WORKERS, WORKER_CLASS, THREADS, CONN_MAX_AGE) == (
                DEFAULT_WORKERS,
                DEFAULT_WORKER_CLASS,
                DEFAULT_THREADS,
                DEFAULT_CONN_MAX_AGE,
            ):
                print(
                    "server: the configuration chosen on 2 cores: 4 sync workers beat 2-3 sync "
                    "and gthread 2-3 × 4 threads on rate and p99; CONN_MAX_AGE=60 keeps "
                    "database connections (the default 0 opens one per request, twice the "
                    "PostgreSQL CPU)",
                    flush=True,
                )
            yield Server(port, proc.pid)
        except BaseException:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-4000:]
            print(f"--- gunicorn log (last 4,000 characters) ---\n{tail}", file=sys.stderr)
            raise
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.seek(0)
            problems = [
                line
                for line in log.read().decode(errors="replace").splitlines()
                if "Traceback" in line or "[CRITICAL]" in line or "[ERROR]" in line
            ]
            if problems:
                print(f"server log: {len(problems)} error lines, e.g. {problems[0]}", flush=True)


def wait_until_answering(proc: subprocess.Popen, port: int) -> None:
    """Until a request gets an HTTP answer (any status): the app is loaded in a worker."""
    deadline = time.monotonic() + START_TIMEOUT_S
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: {HOST}\r\nX-Forwarded-Proto: https\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {proc.returncode}")
        # Refused while gunicorn is still starting: try again shortly.
        with (
            contextlib.suppress(OSError),
            socket.create_connection((HOST, port), timeout=5) as sock,
        ):
            sock.sendall(request)
            if sock.recv(12).startswith(b"HTTP/1."):
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {START_TIMEOUT_S} s")


# --- the load generator ----------------------------------------------------------------


@dataclass
class Answer:
    status: int
    seconds: float
    body: bytes = b""


@dataclass
class Load:
    answers: list[Answer] = field(default_factory=list)
    seconds: float = 0.0
    connections: int = 0
    stopped: bool = False

    def statuses(self) -> Counter:
        return Counter(a.status for a in self.answers)


class Connection:
    """One HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, port: int, load: Load) -> None:
        self.port = port
        self.load = load
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            self.load.connections += 1
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
            keep = headers.get("connection") != "close"
        else:
            body = await self.reader.read()
            keep = False
        if not keep:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def redeem_request(port: int, token: str, key: str, payload: dict[str, str]) -> bytes:
    body = json.dumps(payload).encode()
    return (
        f"POST {PATH} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"Authorization: Token {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\n"
        "X-Forwarded-Proto: https\r\n"
        "User-Agent: voucherdesk-bench\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode() + body


async def _run(port: int, requests: list[bytes], concurrency: int, limit: float | None) -> Load:
    load = Load()
    pending = iter(requests)
    deadline = time.perf_counter() + limit if limit else math.inf

    async def worker() -> None:
        conn = Connection(port, load)
        try:
            for request in pending:
                start = time.perf_counter()
                if start > deadline:
                    load.stopped = True
                    break
                try:
                    status, body = await asyncio.wait_for(conn.send(request), REQUEST_TIMEOUT_S)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    conn.close()
                    status, body = 0, repr(exc).encode()
                seconds = time.perf_counter() - start
                load.answers.append(Answer(status, seconds, body if status != 201 else b""))
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    load.seconds = time.perf_counter() - start
    return load


def run_load(
    port: int, requests: list[bytes], *, concurrency: int = CONCURRENCY, limit: float | None = None
) -> Load:
    """Send the requests, `concurrency` at a time; with a `limit`, send no more after that
    many seconds."""
    return asyncio.run(_run(port, requests, concurrency, limit))


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fmt_statuses(statuses: Counter) -> str:
    return ", ".join(f"{n:,} × {status or 'no answer'}" for status, n in sorted(statuses.items()))


# --- CPU accounting --------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its children that have exited and those still running."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(stat.parent.name) == pid:
            total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        elif int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy since it booted (every core)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, f.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def postmaster_pid() -> int:
    """The PostgreSQL server's main process: the parent of this connection's backend."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    text = Path(f"/proc/{backend}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[1])


@dataclass
class Cpu:
    """CPU seconds used during a measurement, by part."""

    workers: float
    postgres: float
    generator: float
    machine: float

    @property
    def rest(self) -> float:
        return max(self.machine - self.workers - self.postgres - self.generator, 0.0)


class CpuMeter:
    def __init__(self, server_pid: int, postgres_pid: int | None) -> None:
        self.server_pid = server_pid
        self.postgres_pid = postgres_pid

    def snapshot(self) -> Cpu:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return Cpu(
            workers=tree_cpu(self.server_pid),
            postgres=tree_cpu(self.postgres_pid) if self.postgres_pid else 0.0,
            generator=usage.ru_utime + usage.ru_stime,
            machine=machine_busy(),
        )

    @staticmethod
    def used(before: Cpu, after: Cpu) -> Cpu:
        return Cpu(
            workers=after.workers - before.workers,
            postgres=after.postgres - before.postgres,
            generator=after.generator - before.generator,
            machine=after.machine - before.machine,
        )


def cpu_rows(cpu: Cpu, requests: int, seconds: float) -> list[Row]:
    per = {
        name: value * 1000 / requests
        for name, value in (
            ("gunicorn", cpu.workers),
            ("PostgreSQL", cpu.postgres),
            ("load generator", cpu.generator),
            ("rest of the machine", cpu.rest),
        )
    }
    own = per["gunicorn"] + per["PostgreSQL"] + per["load generator"]
    cores = os.cpu_count() or 1
    return [
        Row(
            "   CPU per redemption: " + ", ".join(per),
            ", ".join(f"{v:.1f}" for v in per.values()) + " ms",
        ),
        Row(
            f"   machine busy; ceiling at {cores} cores fully used by this benchmark alone",
            f"{cpu.machine / seconds / cores:.0%}; {cores * 1000 / own:,.0f}/s",
        ),
    ]


# --- the measurements ------------------------------------------------------------------


def redemptions(srv: Server, meter: CpuMeter, data: Data) -> tuple[list[Row], bool]:
    from invitations.models import Booking, InvitationCode

    codes = data.assigned
    requests = [
        redeem_request(srv.port, data.token, f"bench-{i}", {"code": code})
        for i, code in enumerate(codes)
    ]
    warm = run_load(srv.port, requests[:WARMUP])
    before = meter.snapshot()
    load = run_load(srv.port, requests[WARMUP:], limit=MEASURE_LIMIT_S)
    cpu = CpuMeter.used(before, meter.snapshot())
    answered = len(load.answers)
    latencies = sorted(a.seconds for a in load.answers)
    statuses = load.statuses()
    rate = answered / load.seconds
    p50, p90, p99 = (percentile(latencies, q) * 1000 for q in (0.50, 0.90, 0.99))
    peak = latencies[-1] * 1000
    ok = rate >= TARGET_RATE and p99 < TARGET_P99_MS
    all_201 = statuses == Counter({201: answered}) and warm.statuses() == Counter({201: WARMUP})
    # Requests are taken in order and none after the time limit: those sent come first.
    sent = WARMUP + answered
    bookings = Booking.objects.filter(code__code__in=codes).count()
    used = InvitationCode.objects.filter(code__in=codes[:sent], uses=1).count()
    stored = bookings == used == sent
    stopped = f", stopped after {MEASURE_LIMIT_S:.0f} s" if load.stopped else ""
    rows = [
        Row(
            f"1. Redemptions through the API ({answered:,} requests, {CONCURRENCY} in flight"
            f"{stopped})",
            f"{fmt_s(load.seconds)}, {rate:,.0f}/s; p50 {p50:.1f}, p90 {p90:.1f}, "
            f"p99 {p99:.1f}, max {peak:.1f} ms",
            f"≥ {TARGET_RATE}/s with p99 < {TARGET_P99_MS} ms",
            ok,
        ),
        Row(
            f"   answers (and of the {WARMUP} warm-up requests)",
            f"{fmt_statuses(statuses)} ({fmt_statuses(warm.statuses())})",
            "all 201",
            all_201,
        ),
        Row(
            "   bookings stored; codes used once",
            f"{bookings:,}; {used:,}",
            f"{sent:,} each",
            stored,
        ),
        *cpu_rows(cpu, answered, load.seconds),
        Row(
            "   connections opened (keep-alive where the server keeps them)",
            f"{load.connections:,}",
        ),
    ]
    others = [a for a in load.answers + warm.answers if a.status != 201]
    if others:
        print(f"first answer other than 201: {others[0].status} {others[0].body[:300]!r}")
    return rows, all_201 and stored


def storm(srv: Server, data: Data) -> tuple[list[Row], bool]:
    from django.db.models import Count

    from contracts.models import Participant
    from invitations.models import Booking, InvitationCode

    jobs = [(i, data.storm[i % STORM_CODES]) for i in range(STORM_CODES * STORM_PER_CODE)]
    random.Random(20240601).shuffle(jobs)
    requests = [
        redeem_request(
            srv.port,
            data.token,
            f"storm-{i}",
            {
                "code": code,
                "first_name": "Storm",
                "last_name": str(i),
                "email": f"storm{i}@example.com",
            },
        )
        for i, code in jobs
    ]
    load = run_load(srv.port, requests)
    outcomes: Counter = Counter()
    for answer in load.answers:
        reason = ""
        if answer.status == 422:
            try:
                reason = json.loads(answer.body).get("reason", "")
            except ValueError:
                reason = "?"
        outcomes[(answer.status, reason)] += 1
    bookings = Booking.objects.filter(code_id__in=data.storm_ids)
    booked = bookings.count()
    per_code = set(bookings.values("code_id").annotate(n=Count("id")).values_list("n", flat=True))
    uses = Counter(
        InvitationCode.objects.filter(pk__in=data.storm_ids).values_list("uses", flat=True)
    )
    storm_people = Participant.objects.filter(
        contract_id=data.contract_id, first_name="Storm"
    ).count()
    total = STORM_CODES * STORM_PER_CODE
    expected = Counter({(201, ""): STORM_CODES, (422, "used_up"): total - STORM_CODES})
    ok = (
        outcomes == expected
        and booked == STORM_CODES
        and per_code == {1}
        and uses == Counter({1: STORM_CODES})
        and storm_people == STORM_CODES
    )
    shown = ", ".join(
        f"{n:,} × {status or 'no answer'}{' ' + reason if reason else ''}"
        for (status, reason), n in sorted(outcomes.items())
    )
    rows = [
        Row(
            f"2. Storm: {total:,} requests over {STORM_CODES} single-use codes "
            f"({STORM_PER_CODE} each, {CONCURRENCY} in flight)",
            f"{fmt_s(load.seconds)}, {total / load.seconds:,.0f}/s",
        ),
        Row("   answers", shown, f"{STORM_CODES} × 201, {total - STORM_CODES} × 422 used_up", None),
        Row(
            "   bookings for those codes; codes with uses = 1; participants added",
            f"{booked}; {uses.get(1, 0)}; {storm_people}",
            f"{STORM_CODES} each",
            None,
        ),
        Row("   exactly one booking per code, no use taken twice", "yes" if ok else "no", "", ok),
    ]
    unexpected = [a for a in load.answers if a.status not in (201, 422)]
    if unexpected:
        print(f"first unexpected storm answer: {unexpected[0].status} {unexpected[0].body[:300]!r}")
    return rows, ok


def main() -> int:
    _setup.bootstrap()
    made = Made()
    flush_cache()
    try:
        data = make_data(made, WARMUP + REDEEMS + 1)
        queries, kinds = query_count(data.token, data.assigned.pop())
        print(
            f"queries per redemption (one in-process request): {queries} "
            f"({', '.join(f'{n} {kind}' for kind, n in kinds.most_common())})",
            flush=True,
        )
        flush_cache()
        _setup.checkpoint()
        with server() as srv:
            meter = CpuMeter(srv.pid, postmaster_pid())
            rows, redeemed_ok = redemptions(srv, meter, data)
            storm_rows, storm_ok = storm(srv, data)
        print_table(
            f"Code redemption through the API under gunicorn ({describe_server()})",
            [
                *rows,
                *storm_rows,
                Row("   queries per redemption (in-process)", str(queries)),
                Row("   confirmation emails queued for a worker", f"{queued_emails():,}"),
            ],
        )
        return 0 if redeemed_ok and storm_ok else 1
    finally:
        cleanup(made)
        flush_cache()


if __name__ == "__main__":
    sys.exit(main())
