from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from contracts.forms import WIDTH_CHOICES
from contracts.models import Organisation
from core.forms import DateInput
from core.money import CURRENCIES, DEFAULT_CURRENCY
from passes.models import PassPlan


class RegisterForm(UserCreationForm):
    """A contact's account: a username, an email and a password."""

    email = forms.EmailField()

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "email"]


class PassPlanForm(forms.Form):
    name = forms.CharField(max_length=200)
    type = forms.ChoiceField(choices=PassPlan.Type.choices)
    format = forms.ChoiceField(choices=PassPlan.Format.choices)
    classification = forms.CharField(max_length=100, required=False)
    value_min = forms.DecimalField(
        max_digits=12, decimal_places=2, required=False, label="Value (or lowest value)"
    )
    value_max = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        label="Highest value",
        help_text="Electronic gift or top-up plans only: a range, the value chosen when bought.",
    )
    currency = forms.ChoiceField(choices=CURRENCIES, initial=DEFAULT_CURRENCY)
    valid_until = forms.DateField(
        required=False, widget=DateInput(), label="Redeem by (fixed date)"
    )
    valid_days = forms.IntegerField(
        required=False, min_value=1, label="…or redeem within (days from issue)"
    )
    funds_valid_days = forms.IntegerField(
        required=False,
        min_value=1,
        label="Credited funds spendable for (days)",
        help_text="Empty: no limit. Separate from the deadline to redeem the pass.",
    )
    wallet_balance = forms.CharField(max_length=20, initial="main", label="Wallet balance credited")
    pin_required = forms.BooleanField(required=False, label="PIN required (gift and top-up only)")
    prefix = forms.CharField(max_length=20, required=False, label="Code prefix")
    code_width = forms.TypedChoiceField(choices=WIDTH_CHOICES, coerce=int, initial=10)
    quantity = forms.IntegerField(
        required=False, min_value=1, help_text="Printed plans: how many passes to print."
    )
    offer = forms.CharField(
        max_length=200, required=False, help_text="Promotion plans: the offer a pass activates."
    )
    sold_online = forms.BooleanField(
        required=False,
        label="Sold online (electronic gift plans)",
        help_text="Offered to the public on the gift landing page.",
    )
    code_mode = forms.ChoiceField(
        choices=[("unique", "Unique code per contact"), ("universal", "One universal code")],
        initial="unique",
        required=False,
        label="Promotion codes",
    )
    target_products = forms.CharField(
        required=False,
        label="Target products",
        help_text="Promotion: product codes (SKUs) a purchase must include, comma-separated; "
        "empty: any.",
    )
    target_segments = forms.CharField(
        required=False,
        label="Target segments",
        help_text="Promotion: contact segments, comma-separated; empty: everyone.",
    )
    organisation = forms.ModelChoiceField(
        Organisation.objects.all(),
        required=False,
        help_text="Its passes' redemptions are sent to this organisation's webhook endpoints.",
    )

    def clean_target_products(self) -> list[str]:
        return [p.strip() for p in self.cleaned_data["target_products"].split(",") if p.strip()]

    def clean_target_segments(self) -> list[str]:
        return [p.strip() for p in self.cleaned_data["target_segments"].split(",") if p.strip()]


class IssuePassForm(forms.Form):
    email = forms.EmailField(
        required=False, label="Contact's email", help_text="Empty: a pass for nobody in particular."
    )
    value = forms.DecimalField(max_digits=12, decimal_places=2, required=False)


class GiftOrderForm(forms.Form):
    # One per page load: a double submit is the same order, not a second payment.
    request_token = forms.CharField(widget=forms.HiddenInput)
    value = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0.01, label="Value")
    buyer_name = forms.CharField(max_length=200, label="Your name")
    buyer_email = forms.EmailField(label="Your email")
    beneficiary_name = forms.CharField(max_length=200, label="Their name")
    beneficiary_email = forms.EmailField(label="Their email")
    message = forms.CharField(
        required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}), label="Message"
    )


class GiftRedeemForm(forms.Form):
    pin = forms.CharField(max_length=8, label="PIN (in your email)")
