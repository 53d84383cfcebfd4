from rest_framework import serializers

from referrals.models import Referral


class ConversionInput(serializers.Serializer):
    program = serializers.SlugField(help_text="The program's slug, as in /refer/<slug>/.")
    email = serializers.EmailField(help_text="The referred person's email.")
    external_id = serializers.CharField(
        max_length=200, help_text="The conversion's id in your system; the idempotency key."
    )
    referral_code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="The referrer's code, when the person never signed up through a link.",
    )


class ConversionOutput(serializers.ModelSerializer):
    referrer_email = serializers.EmailField(source="referrer.email")
    referrer_code = serializers.CharField(source="referrer.code")
    counted = serializers.SerializerMethodField()

    class Meta:
        model = Referral
        fields = [
            "id",
            "email",
            "external_id",
            "stage",
            "review",
            "flags",
            "counted",
            "referrer_email",
            "referrer_code",
            "converted_at",
        ]

    def get_counted(self, referral: Referral) -> bool:
        return referral.counted_at is not None
