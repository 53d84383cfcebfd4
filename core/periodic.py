"""Periodic jobs kept by django-celery-beat, created by the data migrations that need them."""

from __future__ import annotations

from collections.abc import Callable


def nightly(*, name: str, task: str, hour: int, minute: int) -> tuple[Callable, Callable]:
    """RunPython functions that schedule a task every night (and remove it when reversed).

    The schedule is editable afterwards in the admin's Periodic tasks.
    """

    def schedule(apps, schema_editor) -> None:
        CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(minute), hour=str(hour), day_of_week="*", day_of_month="*", month_of_year="*"
        )
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab})

    def unschedule(apps, schema_editor) -> None:
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return schedule, unschedule


def every_minute(*, name: str, task: str) -> tuple[Callable, Callable]:
    """RunPython functions that schedule a task every minute (and remove it when reversed)."""

    def schedule(apps, schema_editor) -> None:
        IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})

    def unschedule(apps, schema_editor) -> None:
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return schedule, unschedule
