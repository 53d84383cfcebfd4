import os

from celery import Celery, Task
from django.utils import timezone

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class SiteZoneTask(Task):
    """Every task counts and writes in the site's time zone (core.timezones). Without a
    broker a task runs inside the request that queued it (a staff page in its user's zone,
    an administrator's "Run task"): it must not take that zone with it."""

    def __call__(self, *args, **kwargs):
        with timezone.override(None):  # None: the site's TIME_ZONE
            return super().__call__(*args, **kwargs)


app = Celery("voucherdesk", task_cls=SiteZoneTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
