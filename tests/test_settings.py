"""Configuration comes from the environment; these run the real settings in a fresh process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from invitations.models import CodeBatch
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


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_large_batch_is_generated_by_a_real_worker_through_redis():
    price = ContractPriceFactory()
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k not in CONFIG_VARS},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
        "CODE_BATCH_SYNC_LIMIT": "100",
    }
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()
    worker = subprocess.Popen(
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
    try:
        enqueue = (
            "import django; django.setup(); "
            "from contracts.models import ContractPrice; from invitations import services; "
            f"p = ContractPrice.objects.get(pk={price.pk}); "
            "b = services.code_batch_create(actor=None, contract=p.contract, price=p, "
            "quantity=2500, width=8); print(b.pk, b.status)"
        )
        queued = subprocess.run(
            [sys.executable, "-c", enqueue],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        batch_id, status = queued.stdout.split()
        assert status == "queued", queued.stderr
        deadline = time.monotonic() + 60
        batch = CodeBatch.objects.get(pk=batch_id)
        while batch.status not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            batch.refresh_from_db()
        assert (batch.status, batch.generated, batch.codes.count()) == ("done", 2500, 2500)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
