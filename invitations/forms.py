import secrets

from django import forms
from django.conf import settings
from django.core import signing

from contracts.forms import WIDTH_CHOICES
from contracts.models import Contract
from core.forms import DateInput
from core.timezones import zone_phrase
from invitations.models import InvitationCode


class CodeRulesForm(forms.Form):
    """The code rules a batch, a shared code and one code's edit page all offer."""

    allowed_regions = forms.CharField(
        max_length=500,
        required=False,
        label="Allowed regions",
        help_text="Separated by commas; leave empty for every region.",
    )
    allowed_groups = forms.CharField(
        max_length=500,
        required=False,
        label="Allowed groups",
        help_text="Separated by commas; leave empty for every group.",
    )
    one_per_person = forms.BooleanField(
        required=False,
        initial=True,
        label="One booking per person",
        help_text="Refuse a booking when the person already holds one on this contract.",
    )


class GenerateCodesForm(CodeRulesForm):
    quantity = forms.IntegerField(
        min_value=1,
        max_value=settings.CODE_BATCH_MAX_QUANTITY,
        error_messages={
            "required": "Enter how many codes to generate.",
            "invalid": "Enter the quantity as a whole number, e.g. 500.",
            "min_value": "Enter a quantity of at least 1.",
            "max_value": f"At most {settings.CODE_BATCH_MAX_QUANTITY:,} codes per batch.",
        },
        widget=forms.NumberInput(attrs={"autofocus": True, "inputmode": "numeric"}),
    )
    width = forms.TypedChoiceField(
        choices=WIDTH_CHOICES,
        coerce=int,
        label="Code width",
        help_text=("Characters in addition to the Invitation Prefix; the last is a check symbol."),
        error_messages={"invalid_choice": "Choose a code width between 6 and 20."},
    )
    price = forms.ModelChoiceField(
        queryset=None,
        empty_label="— Select a price —",
        error_messages={
            "required": "Select the price the codes are for.",
            "invalid_choice": "Choose one of this contract's prices.",
        },
    )
    max_uses = forms.IntegerField(
        min_value=1,
        initial=1,
        label="Max uses",
        help_text="1 = single use; more for a shared event code.",
    )
    valid_from = forms.DateField(required=False, widget=DateInput())
    valid_until = forms.DateField(required=False, widget=DateInput())
    release_at = forms.DateTimeField(
        label="Release at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time, like 2026-12-01 09:00."},
    )
    note = forms.CharField(
        max_length=500, required=False, help_text="Recorded with the batch, e.g. who it is for."
    )
    field_order = [
        "quantity",
        "width",
        "price",
        "max_uses",
        "valid_from",
        "valid_until",
        "release_at",
    ]

    def __init__(self, *args, contract: Contract, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "width": contract.default_code_width,
                "max_uses": 1,
                "valid_from": contract.start_date,
                "valid_until": contract.end_date,
                "one_per_person": True,
            },
        )
        super().__init__(*args, **kwargs)
        prices = contract.prices.select_related("product").order_by("price_code")
        self.fields["price"].queryset = prices
        if len(prices) == 1 and not self.is_bound:
            self.initial["price"] = prices[0].pk
        self.fields["release_at"].help_text = (
            "Leave empty to make the codes bookable at once. Otherwise they cannot be booked "
            f"until this date and time, in {zone_phrase()}."
        )


class CodeEditForm(CodeRulesForm):
    price = forms.ModelChoiceField(queryset=None)
    max_uses = forms.IntegerField(
        min_value=1, required=False, label="Max uses", help_text="Leave empty for no limit."
    )
    valid_from = forms.DateField(required=False, widget=DateInput())
    valid_until = forms.DateField(required=False, widget=DateInput())
    status = forms.ChoiceField(choices=InvitationCode.Status.choices)
    field_order = ["price", "max_uses", "valid_from", "valid_until", "status"]

    def __init__(self, *args, code: InvitationCode, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "price": code.price_id,
                "max_uses": code.max_uses,
                "valid_from": code.valid_from,
                "valid_until": code.valid_until,
                "status": code.status,
                "allowed_regions": code.allowed_regions,
                "allowed_groups": code.allowed_groups,
                "one_per_person": code.one_per_person,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["price"].queryset = code.contract.prices.select_related("product")
        if code.status != InvitationCode.Status.SCHEDULED:
            # A code becomes scheduled only through its batch's release time.
            self.fields["status"].choices = [
                choice
                for choice in InvitationCode.Status.choices
                if choice[0] != InvitationCode.Status.SCHEDULED
            ]


class SharedCodeForm(CodeRulesForm):
    code = forms.CharField(
        max_length=60,
        label="Shared code",
        help_text="At least 10 letters and digits, e.g. SUMMERGALA2026.",
        error_messages={"required": "Choose the code, at least 10 letters and digits."},
        widget=forms.TextInput(attrs={"autofocus": True, "autocapitalize": "characters"}),
    )
    price = forms.ModelChoiceField(
        queryset=None,
        empty_label="— Select a price —",
        error_messages={"required": "Select the price the code is for."},
    )
    max_uses = forms.IntegerField(
        min_value=1,
        required=False,
        label="Use limit",
        help_text="How many bookings the code allows; leave empty for no limit.",
    )
    valid_from = forms.DateField(required=False, widget=DateInput())
    valid_until = forms.DateField(required=False, widget=DateInput())
    field_order = ["code", "price", "max_uses", "valid_from", "valid_until"]

    def __init__(self, *args, contract: Contract, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "valid_from": contract.start_date,
                "valid_until": contract.end_date,
                "one_per_person": True,
            },
        )
        super().__init__(*args, **kwargs)
        prices = contract.prices.select_related("product").order_by("price_code")
        self.fields["price"].queryset = prices
        if len(prices) == 1 and not self.is_bound:
            self.initial["price"] = prices[0].pk


class VoidBookingForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}),
        help_text="Kept with the booking for the record.",
        error_messages={"required": "Say why the booking is voided."},
    )


class ParticipantForm(forms.Form):
    first_name = forms.CharField(max_length=100, label="First Name")
    last_name = forms.CharField(max_length=100, label="Last Name")
    email = forms.EmailField(label="Email")
    phone = forms.CharField(max_length=40, required=False, label="Phone")
    date_of_birth = forms.DateField(required=False, widget=DateInput(), label="Date of Birth")
    external_reference = forms.CharField(
        max_length=100,
        required=False,
        label="External Reference",
        help_text="Employee or member number; unique within the contract.",
    )
    group = forms.CharField(max_length=100, required=False, label="Group / Department")
    region = forms.CharField(max_length=100, required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class GenerateParticipantCodeForm(forms.Form):
    width = forms.TypedChoiceField(
        choices=WIDTH_CHOICES,
        coerce=int,
        label="Code width",
        help_text="Characters in addition to the Invitation Prefix.",
    )
    price = forms.ModelChoiceField(
        queryset=None,
        empty_label="— Select a price —",
        label="Product price",
        error_messages={
            "required": "Select the price the code is for.",
            "invalid_choice": "Choose one of this contract's prices.",
        },
    )
    # The unused codes staff were shown and agreed to revoke, as comma-separated ids.
    replace = forms.CharField(required=False, widget=forms.HiddenInput())

    def __init__(self, *args, contract: Contract, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["price"].queryset = contract.prices.select_related("product").order_by(
            "price_code"
        )
        self.fields["width"].initial = contract.default_code_width

    def clean_replace(self) -> list[int]:
        text = self.cleaned_data["replace"]
        return [
            int(part)
            for part in text.split(",")
            if part.strip().isascii() and part.strip().isdigit()
        ]


class ParticipantUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        allow_empty_file=True,  # an empty file gets its message on the validation page
        error_messages={"required": "Choose a CSV file to upload.", "empty": "The file is empty."},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
    width = forms.TypedChoiceField(
        choices=[("", "Contract default"), *WIDTH_CHOICES],
        coerce=int,
        empty_value=None,
        required=False,
        label="Code width",
        help_text="For the codes this import issues; characters in addition to the prefix.",
    )
    update_existing = forms.BooleanField(
        required=False,
        label="Update existing contacts",
        help_text="Leave unticked to keep the details of participants already on the contract "
        "(they may have corrected them at registration); their codes are still issued.",
    )

    def __init__(self, *args, contract: Contract, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["width"].choices = [
            ("", f"Contract default ({contract.default_code_width})"),
            *WIDTH_CHOICES,
        ]


class CodeEntryForm(forms.Form):
    code = forms.CharField(
        label="Invitation code",
        max_length=200,
        error_messages={"required": "Enter your invitation code."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


class BookingForm(forms.Form):
    """The booking form of the registration page; an assigned code fixes all but the phone."""

    first_name = forms.CharField(
        max_length=100, label="First name", widget=forms.TextInput({"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        max_length=100, label="Last name", widget=forms.TextInput({"autocomplete": "family-name"})
    )
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput({"autocomplete": "email"})
    )
    phone = forms.CharField(
        max_length=40,
        required=False,
        label="Phone",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    date_of_birth = forms.DateField(
        required=False, widget=DateInput(attrs={"autocomplete": "bday"}), label="Date of birth"
    )
    region = forms.CharField(max_length=100, required=False, label="Region")
    group = forms.CharField(max_length=100, required=False, label="Group / department")
    create_account = forms.BooleanField(
        required=False,
        label="Create an account with this email address",
        help_text="We email you a link to set its password; your bookings show there.",
    )
    # A one-time token, signed: a double click or a retried POST finds the first booking.
    token = forms.CharField(widget=forms.HiddenInput())

    def __init__(self, *args, code: InvitationCode, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        person = code.participant
        if person is not None:
            for name in ("first_name", "last_name", "email", "date_of_birth"):
                self.fields[name].disabled = True
                self.fields[name].required = False
                self.initial[name] = getattr(person, name)
            self.initial.setdefault("phone", person.phone)
            self.fields["email"].help_text = "The address your invitation was sent to."
            del self.fields["region"], self.fields["group"]
            if person.date_of_birth is None:
                del self.fields["date_of_birth"]  # nothing to show, and not theirs to set
        else:
            if not code.regions:
                del self.fields["region"]
            if not code.groups:
                del self.fields["group"]

    def clean_token(self) -> str:
        try:
            return signing.loads(self.cleaned_data["token"], salt=TOKEN_SALT, max_age=TOKEN_AGE)
        except signing.BadSignature:
            raise forms.ValidationError(
                "This form was changed or has expired. Reload the page and book again."
            ) from None


TOKEN_SALT = "invitations.booking-form"
TOKEN_AGE = 24 * 3600


def booking_form_token() -> str:
    return signing.dumps(secrets.token_urlsafe(18), salt=TOKEN_SALT)
