from decimal import Decimal

from django import forms

from contracts.models import Contract, Product
from core.codes import MAX_WIDTH, MIN_WIDTH
from core.forms import DateInput
from core.money import CURRENCIES, DEFAULT_CURRENCY

WIDTH_CHOICES = [(w, str(w)) for w in range(MIN_WIDTH, MAX_WIDTH + 1)]


class OrganisationForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(max_length=40, help_text="Short code for internal use, e.g. ACME.")


class ContractForm(forms.Form):
    name = forms.CharField(max_length=200, label="Contract Name")
    code = forms.CharField(max_length=40, help_text="Short code for internal use.")
    invitation_prefix = forms.CharField(
        max_length=20,
        required=False,
        label="Invitation Prefix",
        help_text="Optional, 1–10 characters (0–9, A–Z without I, L, O, U) put before every code.",
    )
    start_date = forms.DateField(required=False, widget=DateInput())
    end_date = forms.DateField(required=False, widget=DateInput())
    status = forms.ChoiceField(choices=Contract.Status.choices, initial=Contract.Status.DRAFT)
    currency = forms.ChoiceField(choices=CURRENCIES, initial=DEFAULT_CURRENCY)
    default_code_width = forms.TypedChoiceField(
        choices=WIDTH_CHOICES, coerce=int, initial=8, label="Default code width"
    )
    participant_identifier = forms.ChoiceField(
        choices=Contract.Identifier.choices,
        initial=Contract.Identifier.ID,
        label="Unique Identifier",
        help_text="How a participant CSV import recognises participants already on the contract.",
    )
    is_closed_group = forms.BooleanField(
        required=False,
        label="Closed group",
        help_text="Only people on the participant list can book, with the email address it "
        "holds for them.",
    )
    max_bookings = forms.IntegerField(
        required=False,
        min_value=1,
        label="Most bookings",
        help_text="In all. Empty: no limit. The registration page refuses once it is reached.",
    )
    max_bookings_per_day = forms.IntegerField(
        required=False, min_value=1, label="Most bookings a day", help_text="Empty: no limit."
    )
    budget_cap = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        label="Budget cap",
        help_text="The most the booked prices may add up to, in the contract's currency. "
        "Empty: no cap.",
    )
    alert_emails = forms.BooleanField(
        required=False,
        label="Email anomaly alerts",
        help_text="Send new alerts about this contract to the contract managers.",
    )


class PriceForm(forms.Form):
    """Add Product / Price: pick an existing product or describe a new one."""

    product = forms.ModelChoiceField(
        queryset=Product.objects.order_by("name"),
        required=False,
        empty_label="— New product (fill in below) —",
    )
    new_product_name = forms.CharField(max_length=200, required=False, label="New product name")
    new_product_description = forms.CharField(
        required=False, label="New product description", widget=forms.Textarea(attrs={"rows": 2})
    )
    new_product_base_price = forms.DecimalField(
        max_digits=12, decimal_places=2, required=False, min_value=0, label="New product base price"
    )
    price_code = forms.CharField(max_length=20, help_text="Unique within this contract, e.g. STD.")
    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, label="Contract price"
    )
    currency = forms.ChoiceField(choices=CURRENCIES)

    def clean(self):
        data = super().clean()
        if not data.get("product"):
            if not data.get("new_product_name"):
                self.add_error("new_product_name", "Choose a product above or name a new one.")
            if data.get("new_product_base_price") is None:
                self.add_error("new_product_base_price", "Enter the new product's base price.")
        return data


class PriceEditForm(forms.Form):
    price_code = forms.CharField(max_length=20)
    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, label="Contract price"
    )
    currency = forms.ChoiceField(choices=CURRENCIES)


class ProductForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    base_price = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    currency = forms.ChoiceField(choices=CURRENCIES)
