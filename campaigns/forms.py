from django import forms

from campaigns.models import Channel, MessageTemplate
from contracts.models import Contract
from core.forms import DateInput
from core.timezones import zone_phrase


class MessageTemplateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        help_text="For you: it names the template on the Send Codes page.",
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    channel = forms.ChoiceField(
        choices=Channel.choices,
        initial=Channel.EMAIL,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose email or SMS."},
    )
    subject = forms.CharField(
        max_length=200, required=False, help_text="Email only; placeholders work here too."
    )
    body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 12}),
        error_messages={"required": "Write the message."},
    )


class TestSendForm(forms.Form):
    to = forms.CharField(
        label="Your mobile number",
        max_length=40,
        required=False,
        help_text="SMS templates: in international format, like +447700900123.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    real_data = forms.BooleanField(
        required=False,
        initial=True,
        label="With a real participant's values",
        help_text="The contract's first participant holding a code; they receive nothing.",
    )


class SendCodesForm(forms.Form):
    """Send Codes: a template, who gets it, and when."""

    ALL = "all"
    SELECTED = "selected"

    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of this contract's templates."},
    )
    recipients = forms.ChoiceField(widget=forms.RadioSelect)
    participant = forms.TypedMultipleChoiceField(
        required=False, coerce=int, widget=forms.MultipleHiddenInput
    )
    code = forms.TypedMultipleChoiceField(
        required=False, coerce=int, widget=forms.MultipleHiddenInput
    )
    send_at = forms.DateTimeField(
        label="Send at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time, like 2026-12-01 09:00."},
    )

    def __init__(
        self,
        *args,
        contract: Contract,
        participant_ids: list[int],
        code_ids: list[int],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = contract.templates.order_by("name", "pk")
        # Hidden ids travel as they came; the plan keeps only those of this contract.
        self.fields["participant"].choices = [(i, i) for i in participant_ids]
        self.fields["code"].choices = [(i, i) for i in code_ids]
        choices = [(self.ALL, "All participants holding an unused code")]
        if participant_ids:
            n = len(participant_ids)
            choices.insert(0, (self.SELECTED, f"The {n:,} selected participant{'s' * (n != 1)}"))
        elif code_ids:
            n = len(code_ids)
            choices.insert(
                0, (self.SELECTED, f"The holders of the {n:,} selected code{'s' * (n != 1)}")
            )
        self.fields["recipients"].choices = choices
        self.fields["recipients"].initial = choices[0][0]
        self.fields[
            "send_at"
        ].help_text = f"Leave empty to send now. A date and time in {zone_phrase()}."

    def recipient_ids(self) -> dict:
        """The ids to hand to the plan: participants, codes, or neither (all holders)."""
        data = self.cleaned_data
        if data["recipients"] != self.SELECTED:
            return {}
        if data["participant"]:
            return {"participant_ids": data["participant"]}
        return {"code_ids": data["code"]}


class BatchReleaseForm(forms.Form):
    """Move a batch's release to another time (read in the user's time zone)."""

    release_at = forms.DateTimeField(
        label="Release at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={
            "required": "Enter the date and time to release the codes.",
            "invalid": "Enter a date and time, like 2026-12-01 09:00.",
        },
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["release_at"].help_text = f"A date and time in {zone_phrase()}."


class ReminderRuleForm(forms.Form):
    """A reminder: which template, how many days before a code expires, and whether on."""

    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of this contract's templates."},
    )
    days_before = forms.IntegerField(
        label="Days before expiry",
        min_value=1,
        max_value=365,
        help_text="Holders of unused codes that were sent to them get the reminder once.",
        error_messages={"required": "Enter how many days before a code expires."},
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)

    def __init__(self, *args, contract: Contract, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = contract.templates.order_by("name", "pk")


class WaveForm(forms.Form):
    """A wave: which template, how many participants a day, from which day, whether on."""

    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of this contract's templates."},
    )
    per_day = forms.IntegerField(
        label="Participants a day",
        min_value=1,
        help_text="The next participants in the list who hold an unused code never sent.",
    )
    starts_on = forms.DateField(label="Starts on", widget=DateInput())
    is_active = forms.BooleanField(label="Active", required=False, initial=True)

    def __init__(self, *args, contract: Contract, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = contract.templates.order_by("name", "pk")
