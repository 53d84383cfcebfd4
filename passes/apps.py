from django.apps import AppConfig


class PassesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "passes"
