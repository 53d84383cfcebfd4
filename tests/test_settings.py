"""Configuration comes from the environment; these run the real settings in a fresh process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from invitations.models import CodeBatch, InvitationCode, ParticipantImport
from tests.factories import ContractPriceFactory

ROOT = Path(__file__).resolve().parent.parent
PRINT_CELERY = (
    "import django; django.setup(); from django.conf import settings; "
    "from config import celery_app; "
    "print(settings.CELERY_TASK_ALWAYS_EAGER, celery_app.conf.broker_url)"
)
CONFIG_VARS = (
    "DATABASE_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "EMAIL_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DATABASE_PREPARED_STATEMENTS",
    "CONN_MAX_AGE",
)


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_broker_tasks_run_in_process():
    result = _python(PRINT_CELERY)
    assert result.stdout.split() == ["True", "memory://"]


def test_with_a_broker_tasks_go_to_it():
    result = _python(PRINT_CELERY, CELERY_BROKER_URL="redis://127.0.0.1:6379/3")
    assert result.stdout.split() == ["False", "redis://127.0.0.1:6379/3"]


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = _python("import django; django.setup()", DEBUG="False")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG=False." in result.stderr


def test_production_mode_passes_the_deployment_checks():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in CONFIG_VARS},
            "DEBUG": "False",
            "SECRET_KEY": "x" * 20 + "-a-long-and-random-production-key-9f3k2",
            "ALLOWED_HOSTS": "vouchers.example.com",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_cache_and_email_urls_are_read():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CACHES['default']['BACKEND'], settings.EMAIL_BACKEND, settings.EMAIL_HOST)"
    )
    result = _python(
        code, CACHE_URL="redis://127.0.0.1:6379/1", EMAIL_URL="smtp://user:pw@mail.example.com:587"
    )
    assert result.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.example.com",
    ]


def _worker_env(redis_db: int, **extra: str) -> dict[str, str]:
    """A worker's environment on a Redis database of its own: tests running side by side
    must not take each other's tasks (each worker is on its own test database)."""
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k not in CONFIG_VARS},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        **extra,
    }
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    return env


def _start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--queues=generation,default",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run(code: str, env: dict[str, str]) -> str:
    """Run Django code in a fresh process, as a web request would, and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_for(obj, finished: tuple[str, ...]):
    deadline = time.monotonic() + 60
    obj.refresh_from_db()
    while obj.status not in finished and time.monotonic() < deadline:
        time.sleep(0.2)
        obj.refresh_from_db()
    return obj


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_large_batch_is_generated_by_a_real_worker_through_redis():
    price = ContractPriceFactory()
    env = _worker_env(14, CODE_BATCH_SYNC_LIMIT="100")
    worker = _start_worker(env)
    try:
        batch_id, status = _run(
            "from contracts.models import ContractPrice; from invitations import services; "
            f"p = ContractPrice.objects.get(pk={price.pk}); "
            "b = services.code_batch_create(actor=None, contract=p.contract, price=p, "
            "quantity=2500, width=8); print(b.pk, b.status)",
            env,
        ).split()
        assert status == "queued"
        batch = _wait_for(CodeBatch.objects.get(pk=batch_id), ("done", "failed"))
        assert (batch.status, batch.generated, batch.codes.count()) == ("done", 2500, 2500)
    finally:
        worker.terminate()
        worker.wait(timeout=20)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_large_participant_import_is_checked_and_run_by_a_real_worker(tmp_path):
    price = ContractPriceFactory()
    rows = "".join(f"P,{i},p{i}@example.com,{price.price_code}\n" for i in range(300))
    (tmp_path / "list.csv").write_text("First Name,Last Name,Email,Price Code\n" + rows)
    # The web process and the worker share the uploads, as on a shared volume.
    env = _worker_env(13, PARTICIPANT_IMPORT_SYNC_ROWS="100", MEDIA_ROOT=str(tmp_path / "media"))
    worker = _start_worker(env)
    try:
        import_id, status = _run(
            "from django.core.files.uploadedfile import SimpleUploadedFile; "
            "from contracts.models import Contract; from invitations import services; "
            f"data = open({str(tmp_path / 'list.csv')!r}, 'rb').read(); "
            "u = services.participant_import_upload(actor=None, "
            f"contract=Contract.objects.get(pk={price.contract_id}), "
            "file=SimpleUploadedFile('list.csv', data)); print(u.pk, u.status)",
            env,
        ).split()
        assert status == "validating"
        upload = _wait_for(ParticipantImport.objects.get(pk=import_id), ("valid", "invalid"))
        assert upload.status == "valid" and upload.summary["codes"] == 300
        status = _run(
            "from invitations.models import ParticipantImport; from invitations import services; "
            f"u = ParticipantImport.objects.get(pk={import_id}); "
            "print(services.participant_import_complete(actor=None, participant_import=u).status)",
            env,
        ).strip()
        assert status == "importing"
        upload = _wait_for(upload, ("done", "failed", "invalid"))
        assert upload.status == "done", upload.error
        assert InvitationCode.objects.filter(participant__contract=price.contract).count() == 300
    finally:
        worker.terminate()
        worker.wait(timeout=20)


PRINT_DB_OPTIONS = (
    "import django; django.setup(); from django.conf import settings; "
    "o = settings.DATABASES['default'].get('OPTIONS', {}); "
    "print(o.get('server_side_binding'), o.get('prepare_threshold'), "
    "settings.DATABASES['default']['CONN_MAX_AGE'])"
)
PG = "postgres://postgres@127.0.0.1:5432/test"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("", ["None", "2147483647", "60"]),
        ("all", ["True", "2", "60"]),
        ("off", ["None", "None", "60"]),
    ],
)
def test_prepared_statements_modes_on_postgresql(mode, expected):
    env = {"DATABASE_URL": PG} | ({"DATABASE_PREPARED_STATEMENTS": mode} if mode else {})
    assert _python(PRINT_DB_OPTIONS, **env).stdout.split() == expected


def test_an_unknown_prepared_statements_mode_is_refused():
    result = _python(PRINT_DB_OPTIONS, DATABASE_URL=PG, DATABASE_PREPARED_STATEMENTS="some")
    assert result.returncode != 0
    assert "DATABASE_PREPARED_STATEMENTS must be hot, all or off." in result.stderr
