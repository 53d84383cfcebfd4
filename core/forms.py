"""Form helpers shared by the staff pages."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from core.errors import DomainError
from core.timezones import site_zone, zone_names


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%Y-%m-%d")
        super().__init__(**kwargs)


def add_service_errors(form: forms.Form, exc: ValidationError | DomainError) -> None:
    """Show a service's refusal on the form: field errors by field, the rest at the top."""
    if isinstance(exc, DomainError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Every time on the staff pages is shown in it, and the times you type are "
        "read in it. Days (validity dates, quotas per day, analytics) stay the site's.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [
            ("", f"The site's time zone ({site_zone().key})"),
            *((name, name.replace("_", " ")) for name in zone_names()),
        ]
