from django import forms

from referrals.models import ReferralProgram, RewardTier


class SignupForm(forms.Form):
    name = forms.CharField(max_length=200, label="Your name")
    company = forms.CharField(max_length=200, required=False, label="Company")
    email = forms.EmailField(max_length=254, label="Work email")
    # The referral code of the link the visitor came through (cookies may be blocked in a frame).
    ref = forms.CharField(max_length=40, required=False, widget=forms.HiddenInput)
    # One per form shown: a double click or a retry answers like the first submission.
    nonce = forms.CharField(max_length=40, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(autocomplete="name", autofocus=True)
        self.fields["company"].widget.attrs.update(autocomplete="organization")
        self.fields["email"].widget.attrs.update(autocomplete="email")


class ProgramForm(forms.ModelForm):
    landing_url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text=ReferralProgram._meta.get_field("landing_url").help_text,
    )

    class Meta:
        model = ReferralProgram
        fields = [
            "name",
            "contract",
            "status",
            "landing_url",
            "success_event",
            "cookie_days",
            "allowed_origins",
            "flag_same_domain",
            "signup_limit_per_address",
            "signup_window_minutes",
        ]
        widgets = {"allowed_origins": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "allowed_origins": "Sites that may embed the signup and status pages, one per line "
            "(https://partner.example). Empty: no other site.",
            "cookie_days": "How long a referral link's visit is remembered.",
            "signup_limit_per_address": "Signups from one address in the window before "
            "referrals from it are flagged.",
        }


class TemplatesForm(forms.ModelForm):
    class Meta:
        model = ReferralProgram
        fields = [
            "welcome_subject",
            "welcome_body",
            "referral_subject",
            "referral_body",
            "reward_subject",
            "reward_body",
        ]
        widgets = {
            name: forms.Textarea(attrs={"rows": 7})
            for name in ("welcome_body", "referral_body", "reward_body")
        }


class TierForm(forms.ModelForm):
    class Meta:
        model = RewardTier
        fields = [
            "name",
            "threshold",
            "kind",
            "price",
            "pass_plan",
            "credit_amount",
            "credit_currency",
            "two_sided",
        ]


class EndpointForm(forms.Form):
    url = forms.URLField(max_length=500, label="Endpoint URL", assume_scheme="https")
    events = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    def __init__(self, *args, **kwargs):
        from referrals.services import WEBHOOK_EVENTS

        super().__init__(*args, **kwargs)
        self.fields["events"].choices = [(e, e) for e in WEBHOOK_EVENTS]


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file")
    send_welcome = forms.BooleanField(
        required=False, label="Email each imported user their referral link"
    )


class JoinLinksForm(forms.Form):
    emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        label="Emails",
        help_text="One per line; optionally 'Name <email>' or 'email, name, company'.",
    )


class RewardNoteForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        required=False,
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: kept with the reward, for the team (e.g. how it was handed over).",
    )
