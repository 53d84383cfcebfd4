"""`make bench`: run the benchmarks one after another and summarise them.

Runs generate_codes.py (which makes and removes its own contract), then makes one
contract holding 1,000,000 codes that export_codes.py and list_pages.py share (passed
in BENCH_CONTRACT_ID) and removes it at the end; participants_csv.py runs last, while
that contract exists, with contracts of its own. Each script is a subprocess with the
same environment. The targets are those of the scripts:

- generate 1,000,000 codes through the service ≤ 15 s, ≤ 3 × a bare COPY, and ≥ 40 ×
  faster per code than a naive exists()+create() loop;
- Download CSV of 1,000,000 codes ≥ 200,000 rows/s with < 100 MB memory growth;
- the Invitation Codes pages and the admin changelist < 300 ms each;
- the participant CSV round-trip with 100,000 participants: validation ≤ 20 s, Complete
  Import (participants and 100,000 codes) ≤ 40 s, Download CSV with codes ≤ 3 s (the
  round-trip upload, the memory per phase and a plain django-import-export import of a
  sample, extrapolated, are printed without targets);
- activating a printed plan of 100,000 passes with PINs ≤ 20 s, the PDF of 1,000 passes
  ≤ 20 s, and the latency of wallet debits through the API (p50, p99; no target);
- redeeming assigned single-use codes through `POST /api/v1/codes/redeem` under gunicorn
  ≥ 300 redemptions/s with p99 < 150 ms, and a storm of 1,000 requests over 100
  single-use codes booking each exactly once (900 refused as used up);
- referral programs: importing 50,000 existing users from CSV ≤ 30 s, 10,000 referral
  signups through the public signup page (signups/s, p50 and p99; no target), and the
  referral status page with 50,000 referrers at p99 < 100 ms;
- distribution: queue and send 100,000 personalised emails through Django's locmem backend
  and over SMTP to a local aiosmtpd sink, messages per second (no target);
- analytics: the Analytics tab of a contract with 1,000,000 codes, 200,000 bookings and
  300,000 messages (its own contract) < 500 ms, read from the rollup the background job
  counts (the count's time, a 30-day range and the page counted live are printed too).

A missed target is printed as MISS; the exit status is non-zero only when a script
crashed (or a result failed its correctness check).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime

import _setup

SCRIPTS = [
    "generate_codes.py",
    "export_codes.py",
    "list_pages.py",
    "participants_csv.py",
    "passes.py",
    "redeem.py",
    "referrals.py",
    "distribution.py",
    "analytics.py",
]
VERDICT = re.compile(r"\s(PASS|MISS)$")


@dataclass
class Outcome:
    name: str
    returncode: int
    seconds: float
    verdicts: list[str] = field(default_factory=list)


def run_script(name: str, env: dict[str, str]) -> Outcome:
    """Run one script, echoing its output as it comes, and keep its PASS/MISS lines."""
    print(f"\n=== {name} " + "=" * (70 - len(name)), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(_setup.BENCH_DIR / name)],
        env=env,
        cwd=_setup.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    verdicts = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        if VERDICT.search(line.rstrip()):
            verdicts.append(line.rstrip())
    returncode = proc.wait()
    return Outcome(name, returncode, time.perf_counter() - start, verdicts)


def header() -> None:
    import django
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        pg_version = cur.fetchone()[0]
        cur.execute("SHOW shared_buffers")
        shared_buffers = cur.fetchone()[0]
        cur.execute("SHOW synchronous_commit")
        synchronous_commit = cur.fetchone()[0]
    settings = connection.settings_dict
    print("Voucherdesk benchmarks")
    print(f"  date        {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}")
    print(f"  machine     {platform.node()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(f"  PostgreSQL  {pg_version}")
    print(f"              shared_buffers {shared_buffers}, synchronous_commit {synchronous_commit}")
    print(
        f"  database    {settings['NAME']} on {settings['HOST'] or 'localhost'}:"
        f"{settings['PORT'] or 5432}"
    )
    print(f"  software    Python {platform.python_version()}, Django {django.get_version()}")
    print("  settings    DEBUG off while timing; Celery eager (no broker)", flush=True)


def main() -> int:
    _setup.bootstrap()
    header()
    # A script run on its own prints the header itself.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_HEADER_PRINTED": "1"}
    started = time.perf_counter()
    outcomes = [run_script(SCRIPTS[0], env)]

    print("\n=== shared contract for the export and the pages " + "=" * 22, flush=True)
    try:
        contract_id, summary = _setup.make_shared_contract_in_child()
    except RuntimeError as exc:
        print(f"run.py: {exc}", flush=True)
        outcomes += [Outcome(name, -1, 0.0) for name in SCRIPTS[1:]]
    else:
        print(summary, flush=True)
        try:
            shared_env = {**env, _setup.SHARED_CONTRACT_ENV: str(contract_id)}
            outcomes += [run_script(name, shared_env) for name in SCRIPTS[1:]]
        finally:
            print("\n=== removing the shared contract " + "=" * 38, flush=True)
            _setup.remove_shared_contract_in_child(contract_id)

    print("\n=== summary " + "=" * 59)
    for outcome in outcomes:
        if outcome.returncode == -1:
            state = "not run"
        elif outcome.returncode == 0:
            state = "ran"
        else:
            state = f"CRASHED (exit {outcome.returncode})"
        print(f"  {outcome.name:<20} {state:<20} {outcome.seconds:6.1f} s")
        for line in outcome.verdicts:
            print("    " + re.sub(r"\s{2,}", "  ", line.strip()))
    total = time.perf_counter() - started
    misses = sum(line.endswith("MISS") for o in outcomes for line in o.verdicts)
    print(f"  total {total:.1f} s; {misses} target(s) missed")
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
