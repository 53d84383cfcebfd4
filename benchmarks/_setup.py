"""Shared set-up for the benchmarks: database, Django, a fresh contract, timing, clean-up.

Every benchmark script calls `bootstrap()` first. It refuses to run (exit 2) unless
DATABASE_URL names a PostgreSQL database, creates that database when it is missing,
sets Django up and applies the migrations quietly.

The contracts a benchmark creates are its own: an organisation, a contract, a product
and one price, made through the real services, with a unique organisation code.
`cleanup()` deletes them again with raw SQL (codes, batches, prices, contract,
organisation, product and their history rows), so repeated runs do not pile up.

Run as a script, this module makes the shared 1,000,000-code contract in a process of
its own (so that the memory it used is not counted against a later measurement):

    python benchmarks/_setup.py fixture        # prints CONTRACT_ID=<id> last
    python benchmarks/_setup.py cleanup <id>
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from contracts.models import Contract, ContractPrice, Organisation, Product
    from invitations.models import CodeBatch

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
SHARED_CONTRACT_ENV = "BENCH_CONTRACT_ID"
SHARED_QUANTITY = 1_000_000
SHARED_WIDTH = 10
ORGANISATION_NAME = "Voucherdesk benchmark"
DEFAULT_URL_HINT = "postgres://postgres@127.0.0.1:5432/voucherdesk_bench"


def refuse(message: str) -> NoReturn:
    print(f"benchmarks: {message}", file=sys.stderr)
    sys.exit(2)


def _database_config() -> dict[str, Any]:
    import environ

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        refuse(
            "DATABASE_URL is not set; the benchmarks need PostgreSQL, e.g. "
            f"DATABASE_URL={DEFAULT_URL_HINT} (or run `make bench`)."
        )
    config = environ.Env.db_url_config(url)
    if config.get("ENGINE") != "django.db.backends.postgresql":
        refuse(f"DATABASE_URL must name a PostgreSQL database, not {config.get('ENGINE')}.")
    return config


def _create_database_if_missing(config: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    params = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "dbname": "postgres",
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            print(f"benchmarks: created database {config['NAME']}", file=sys.stderr)


def bootstrap() -> None:
    """Check the database, create it if needed, set Django up and migrate quietly."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # django.test.Client talks to "testserver".
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    config = _database_config()
    _create_database_if_missing(config)

    import django

    # WhiteNoise warns that collectstatic has not been run; the pages render without it.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        refuse(f"the database vendor is {connection.vendor}; the benchmarks need PostgreSQL.")
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        refuse(
            "CELERY_BROKER_URL is set, so batches would go to a worker; unset it so that "
            "generation runs in this process and can be timed."
        )
    # As under Django's test runner and in production: no per-query SQL log in memory.
    settings.DEBUG = False
    # Celery's "task succeeded" line and kombu's in-memory broker warning are noise here.
    logging.getLogger("celery").setLevel(logging.WARNING)
    logging.getLogger("kombu").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0, interactive=False)


# --- timing ----------------------------------------------------------------------------


def drain(items: Iterable[Any]) -> float:
    """Seconds to consume an iterable without keeping anything of it."""
    with timer() as t:
        deque(items, maxlen=0)
    return t.seconds


class Breakdown:
    """Where a service's time goes: a Django execute wrapper adding up the time of each kind
    of SQL statement (a subclass's `kind`), and `timed` wrappers for named functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, kind: str, seconds: float) -> None:
        self.seconds[kind] += seconds
        self.counts[kind] += 1

    @staticmethod
    def kind(sql: str) -> str:
        return "other"

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.add(self.kind(sql), time.perf_counter() - start)

    def timed(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(kind, time.perf_counter() - start)

        return wrapper


@dataclass
class Timer:
    start: float = 0.0
    seconds: float = 0.0


@contextmanager
def timer() -> Iterator[Timer]:
    """`with timer() as t: ...` then `t.seconds` holds the wall-clock duration."""
    t = Timer(start=time.perf_counter())
    try:
        yield t
    finally:
        t.seconds = time.perf_counter() - t.start


def median_of(fn: Any, *, runs: int = 7, warmup: int = 1) -> tuple[float, list[float]]:
    """Call `fn` `warmup` times untimed, then `runs` times; return the median and all times."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        with timer() as t:
            fn()
        times.append(t.seconds)
    return statistics.median(times), times


# --- memory ----------------------------------------------------------------------------

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def current_rss() -> int:
    """This process's resident set size now, in bytes (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE_SIZE


def max_rss() -> int:
    """The highest resident set size this process ever had, in bytes (ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler:
    """Samples the current RSS in a background thread; `peak` is the highest seen."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = current_rss()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())


# --- report ----------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    value: str
    target: str = ""
    ok: bool | None = None


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def print_table(title: str, rows: Sequence[Row]) -> None:
    label_w = max(len(r.label) for r in rows)
    value_w = max(len(r.value) for r in rows)
    target_w = max(len(r.target) for r in rows)
    print()
    print(title)
    print("-" * len(title))
    for r in rows:
        line = f"  {r.label:<{label_w}}  {r.value:>{value_w}}"
        if r.target or r.ok is not None:
            line += f"  {r.target:<{target_w}}  {verdict(r.ok)}"
        print(line.rstrip(), flush=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def fmt_mb(n_bytes: float) -> str:
    return f"{n_bytes / 1_000_000:.1f} MB"


# --- fixtures --------------------------------------------------------------------------


@dataclass
class Fixture:
    organisation: Organisation
    contract: Contract
    product: Product
    price: ContractPrice


def create_contract(label: str = "bench", *, width: int = SHARED_WIDTH) -> Fixture:
    """A fresh organisation, active contract (no prefix), product and price, via the services."""
    from contracts import services
    from contracts.models import Contract

    stamp = time.time_ns()
    organisation = services.organisation_create(
        actor=None, name=ORGANISATION_NAME, code=f"BENCH-{stamp}"
    )
    contract = services.contract_create(
        actor=None,
        organisation=organisation,
        name=f"Benchmark {label} {stamp}",
        code=f"BENCH-{label.upper()}"[:40],
        status=Contract.Status.ACTIVE,
        default_code_width=width,
    )
    product = services.product_create(
        actor=None, name="Benchmark product", base_price=Decimal("10.00")
    )
    price = services.contract_price_create(
        actor=None, contract=contract, product=product, price_code="BENCH", amount=Decimal("9.50")
    )
    return Fixture(organisation=organisation, contract=contract, product=product, price=price)


def generate_batch(
    fixture: Fixture, quantity: int = SHARED_QUANTITY, width: int = SHARED_WIDTH
) -> CodeBatch:
    """Generate codes through the service the Generate Codes page calls (nothing else)."""
    from invitations.services import code_batch_create

    return code_batch_create(
        actor=None, contract=fixture.contract, price=fixture.price, quantity=quantity, width=width
    )


def verify_batch(batch: CodeBatch, quantity: int) -> int:
    """Check that the batch finished with `quantity` codes stored; return the stored count."""
    from invitations.models import CodeBatch, InvitationCode

    batch.refresh_from_db()
    if batch.status != CodeBatch.Status.DONE or batch.generated != quantity:
        raise RuntimeError(
            f"batch {batch.pk}: status {batch.status}, generated {batch.generated:,} "
            f"of {quantity:,} ({batch.error or 'no error recorded'})"
        )
    stored = InvitationCode.objects.filter(batch=batch).count()
    if stored != quantity:
        raise RuntimeError(f"batch {batch.pk}: {stored:,} codes stored, {quantity:,} expected")
    return stored


def cleanup(contract_id: int, *, vacuum: bool = True) -> int:
    """Delete a benchmark contract and everything it made; return how many codes went.

    Its organisation and product go too unless something else still uses them.
    """
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT organisation_id FROM contracts_contract WHERE id = %s", [contract_id])
        row = cur.fetchone()
        if row is None:
            return 0
        organisation_id = row[0]
        cur.execute(
            "SELECT DISTINCT product_id FROM contracts_contractprice WHERE contract_id = %s",
            [contract_id],
        )
        product_ids = [r[0] for r in cur.fetchall()]
        cur.execute(
            "DELETE FROM invitations_historicalinvitationcode WHERE contract_id = %s",
            [contract_id],
        )
        cur.execute("DELETE FROM invitations_invitationcode WHERE contract_id = %s", [contract_id])
        codes = cur.rowcount
        cur.execute("DELETE FROM invitations_codebatch WHERE contract_id = %s", [contract_id])
        cur.execute(
            "DELETE FROM contracts_historicalcontractprice WHERE contract_id = %s", [contract_id]
        )
        cur.execute("DELETE FROM contracts_contractprice WHERE contract_id = %s", [contract_id])
        cur.execute("DELETE FROM contracts_historicalcontract WHERE id = %s", [contract_id])
        cur.execute("DELETE FROM contracts_contract WHERE id = %s", [contract_id])
        cur.execute(
            """
            DELETE FROM contracts_organisation o WHERE o.id = %s
            AND NOT EXISTS (SELECT 1 FROM contracts_contract c WHERE c.organisation_id = o.id)
            """,
            [organisation_id],
        )
        if cur.rowcount:
            cur.execute(
                "DELETE FROM contracts_historicalorganisation WHERE id = %s", [organisation_id]
            )
        cur.execute(
            """
            DELETE FROM contracts_product p WHERE p.id = ANY(%s)
            AND NOT EXISTS (SELECT 1 FROM contracts_contractprice cp WHERE cp.product_id = p.id)
            RETURNING p.id
            """,
            [product_ids],
        )
        gone = [r[0] for r in cur.fetchall()]
        if gone:
            cur.execute("DELETE FROM contracts_historicalproduct WHERE id = ANY(%s)", [gone])
    if vacuum and codes >= 100_000:
        # Give the space back now: a plain VACUUM leaves the indexes bloated by each run's
        # million deleted rows (they tripled in size over a few runs and slowed the next
        # runs' inserts), and autovacuum would otherwise compete with the next measurement.
        with connection.cursor() as cur:
            cur.execute("VACUUM (FULL, ANALYZE) invitations_invitationcode")
            cur.execute("VACUUM (ANALYZE) invitations_historicalinvitationcode")
    return codes


def checkpoint() -> None:
    """Flush dirty buffers before a timed write, so that a checkpoint owed by an earlier
    step does not land in the middle of the next measurement."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("CHECKPOINT")


def create_superuser() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(
        username=f"bench-{time.time_ns()}", email="bench@example.invalid", password=None
    )


def logged_in_client(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


# --- the shared 1,000,000-code contract ------------------------------------------------


def make_shared_contract_in_child() -> tuple[int, str]:
    """Generate the shared contract in a separate process; return its id and a summary line."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "fixture"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"making the shared contract failed (exit {proc.returncode})")
    lines = proc.stdout.strip().splitlines()
    contract_id = int(lines[-1].removeprefix("CONTRACT_ID="))
    return contract_id, "\n".join(lines[:-1])


def remove_shared_contract_in_child(contract_id: int) -> None:
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "cleanup", str(contract_id)],
        env=os.environ.copy(),
        check=True,
    )


@contextmanager
def shared_contract() -> Iterator[Contract]:
    """The contract holding 1,000,000 codes: BENCH_CONTRACT_ID's if set (run.py made it and
    removes it), else one made now in a child process and removed afterwards."""
    from contracts.models import Contract

    given = os.environ.get(SHARED_CONTRACT_ENV)
    if given:
        yield Contract.objects.get(pk=int(given))
        return
    contract_id, summary = make_shared_contract_in_child()
    print(summary, flush=True)
    try:
        yield Contract.objects.get(pk=contract_id)
    finally:
        with timer() as t:
            codes = cleanup(contract_id)
        print(f"clean-up: {codes:,} codes of contract {contract_id} deleted in {fmt_s(t.seconds)}")


def _main(argv: list[str]) -> int:
    bootstrap()
    if argv[:1] == ["fixture"]:
        fixture = create_contract("shared")
        try:
            with timer() as t:
                batch = generate_batch(fixture)
            verify_batch(batch, SHARED_QUANTITY)
        except BaseException:
            cleanup(fixture.contract.pk)
            raise
        print(
            f"shared contract {fixture.contract.pk}: {SHARED_QUANTITY:,} codes of width "
            f"{SHARED_WIDTH} generated in {fmt_s(t.seconds)}"
        )
        print(f"CONTRACT_ID={fixture.contract.pk}")
        return 0
    if len(argv) == 2 and argv[0] == "cleanup":
        with timer() as t:
            codes = cleanup(int(argv[1]))
        print(f"clean-up: {codes:,} codes of contract {argv[1]} deleted in {fmt_s(t.seconds)}")
        return 0
    print("usage: _setup.py fixture | _setup.py cleanup <contract id>", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
