import os
import socket

import pytest
from django.db import connection

from core import roles
from tests.factories import ContractPriceFactory, UserFactory

# Playwright's sync API runs an event loop in the test thread; the live server and the
# ORM calls in browser tests are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _database_is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    skips = {}
    if not _database_is_postgresql():
        skips["postgres"] = (
            "needs PostgreSQL: this run uses SQLite (DATABASE_URL names no PostgreSQL "
            "database; `make test` picks one answering at 127.0.0.1:5432, CI always does)"
        )
    # In CI a missing Redis is a failure of the test, not a reason to skip it.
    if not os.environ.get("CI") and not redis_available():
        skips["redis"] = "needs Redis at 127.0.0.1:6379, which is not running (CI runs these)"
    for item in items:
        for marker, reason in skips.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def restore_roles(django_db_blocker):
    """Re-create the roles after a transactional test's flush wiped the data migrations' rows.

    Runs the same functions as the migrations that create the roles and grant them
    their permissions, in migration order.
    """
    from django.apps import apps
    from django.db.migrations import RunPython
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan = []
    for leaf in loader.graph.leaf_nodes():
        plan += [key for key in loader.graph.forwards_plan(leaf) if key not in plan]
    with django_db_blocker.unblock():
        for key in plan:
            for operation in loader.graph.nodes[key].operations:
                if isinstance(operation, RunPython) and operation.code.__name__ in (
                    "create_roles",
                    "grant_roles",
                ):
                    operation.code(apps, None)


@pytest.fixture(autouse=True)
def _local_webhook_receivers(settings):
    """The tests' webhook receivers listen on 127.0.0.1; tests/core/test_netguard.py turns
    the guard back on."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def price(db):
    return ContractPriceFactory()


@pytest.fixture
def contract(price):
    return price.contract


def _login(client, role: str | None):
    user = UserFactory(role=role, is_staff=role is not None)
    client.force_login(user)
    return user


@pytest.fixture
def admin_client_role(client, db):
    """A client signed in as a member of the Administrator role."""
    _login(client, roles.ADMINISTRATOR)
    return client


@pytest.fixture
def superuser_client(client, db):
    client.force_login(UserFactory(is_superuser=True))
    return client


@pytest.fixture
def manager(db):
    return UserFactory(role=roles.CONTRACT_MANAGER)


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploaded files go to the test's own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache: each test starts with none. Content types are
    cached per process too, and a transactional test's flush gives them new ids."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.cache import cache

    cache.clear()
    ContentType.objects.clear_cache()
    yield
    cache.clear()
    ContentType.objects.clear_cache()
