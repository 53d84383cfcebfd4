"""Every staff URL, walked with every role: allowed where the role's permissions say so."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver, reverse
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Alert, Distribution, MessageTemplate
from contracts.models import ContractPrice
from core import roles
from invitations import services
from passes import services as pass_services
from referrals import services as referral_services
from referrals.models import Referral, Reward
from tests.factories import (
    ContractPriceFactory,
    InvitationCodeFactory,
    ParticipantFactory,
    ReferrerFactory,
    UserFactory,
)

ADMIN, MANAGER, SUPPORT, FINANCE, VIEWER = (
    roles.ADMINISTRATOR,
    roles.CONTRACT_MANAGER,
    roles.SUPPORT,
    roles.FINANCE,
    roles.VIEWER,
)
EVERYONE = {ADMIN, MANAGER, SUPPORT, FINANCE, VIEWER}
MANAGERS = {ADMIN, MANAGER}
# Referral programs: Support reviews flagged referrals and delivers or revokes rewards.
REVIEWERS = {ADMIN, MANAGER, SUPPORT}

# (url name, the object its URL names, method, roles allowed)
MATRIX = [
    ("core:time_zone", None, "get", EVERYONE),
    ("contracts:organisation_list", None, "get", EVERYONE),
    ("contracts:organisation_create", None, "get", MANAGERS),
    ("contracts:organisation_detail", "organisation", "get", EVERYONE),
    ("contracts:organisation_edit", "organisation", "get", MANAGERS),
    ("contracts:organisation_delete", "organisation", "get", MANAGERS),
    ("contracts:contract_create", "organisation", "get", MANAGERS),
    ("contracts:contract_detail", "contract", "get", EVERYONE),
    ("contracts:contract_edit", "contract", "get", MANAGERS),
    ("contracts:contract_delete", "contract", "get", MANAGERS),
    ("contracts:contract_duplicate", "contract", "post", MANAGERS),
    ("contracts:contract_pricing", "contract", "get", EVERYONE),
    ("contracts:price_create", "contract", "get", MANAGERS),
    ("contracts:price_edit", "price", "get", MANAGERS),
    ("contracts:price_delete", "price", "get", MANAGERS),
    ("contracts:product_detail", "product", "get", EVERYONE),
    ("contracts:product_edit", "product", "get", MANAGERS),
    ("invitations:participant_list", "contract", "get", EVERYONE),
    ("invitations:participant_create", "contract", "get", MANAGERS),
    ("invitations:participant_export", "contract", "get", {ADMIN, MANAGER, FINANCE}),
    ("invitations:participant_csv_template", "contract", "get", EVERYONE),
    ("invitations:participant_upload", "contract", "get", MANAGERS),
    ("invitations:participant_detail", "participant", "get", EVERYONE),
    ("invitations:participant_edit", "participant", "get", {ADMIN, MANAGER, SUPPORT}),
    ("invitations:participant_delete", "participant", "get", MANAGERS),
    ("invitations:participant_code_generate", "participant", "get", MANAGERS),
    ("invitations:participant_import", "import", "get", EVERYONE),
    ("invitations:participant_import_complete", "import", "post", MANAGERS),
    ("invitations:participant_import_progress", "import", "get", EVERYONE),
    ("invitations:code_list", "contract", "get", EVERYONE),
    ("invitations:code_generate", "contract", "get", MANAGERS),
    ("invitations:code_export", "contract", "get", {ADMIN, MANAGER, FINANCE}),
    ("invitations:batch_progress", "batch", "get", EVERYONE),
    ("invitations:code_detail", "code", "get", EVERYONE),
    ("invitations:code_edit", "code", "get", {ADMIN, MANAGER, SUPPORT}),
    ("invitations:code_archive", "code", "post", {ADMIN, MANAGER, SUPPORT}),
    ("invitations:code_delete", "code", "get", MANAGERS),
    ("invitations:code_qr", "code", "get", EVERYONE),
    ("invitations:shared_code_create", "contract", "get", MANAGERS),
    ("invitations:booking_list", "contract", "get", EVERYONE),
    ("invitations:booking_void", "booking", "get", {ADMIN, SUPPORT}),
    ("invitations:redemption_log", "contract", "get", EVERYONE),
    ("invitations:redemption_log_export", "contract", "get", EVERYONE),
    ("pass_plans:plan_list", None, "get", EVERYONE),
    ("pass_plans:plan_create", None, "get", MANAGERS),
    ("pass_plans:plan_detail", "plan", "get", EVERYONE),
    ("pass_plans:plan_edit", "plan", "get", MANAGERS),
    ("pass_plans:plan_activate", "plan", "post", MANAGERS),
    ("pass_plans:plan_close", "plan", "post", MANAGERS),
    ("pass_plans:pass_issue", "plan", "post", MANAGERS),
    ("pass_plans:batch_progress", "pass_batch", "get", EVERYONE),
    ("pass_plans:batch_pdf", "pass_batch", "get", MANAGERS),
    ("referrals:program_list", None, "get", EVERYONE),
    ("referrals:program_create", None, "get", MANAGERS),
    ("referrals:program_detail", "program", "get", EVERYONE),
    ("referrals:program_edit", "program", "get", MANAGERS),
    ("referrals:program_emails", "program", "get", EVERYONE),
    ("referrals:tier_create", "program", "get", MANAGERS),
    ("referrals:tier_delete", "tier", "get", MANAGERS),
    ("referrals:endpoint_add", "program", "get", MANAGERS),
    ("referrals:endpoint_remove", "program", "post", MANAGERS),
    ("referrals:referrer_list", "program", "get", EVERYONE),
    ("referrals:referrer_status_link_renew", "referrer", "post", REVIEWERS),
    ("referrals:referral_list", "program", "get", EVERYONE),
    ("referrals:referral_review", "referral", "post", REVIEWERS),
    ("referrals:reward_list", "program", "get", EVERYONE),
    ("referrals:reward_deliver", "reward", "get", REVIEWERS),
    ("referrals:reward_revoke", "reward", "get", REVIEWERS),
    ("referrals:import_upload", "program", "get", MANAGERS),
    ("referrals:import_template", "program", "get", EVERYONE),
    ("referrals:import_detail", "referrer_import", "get", EVERYONE),
    ("referrals:import_complete", "referrer_import", "post", MANAGERS),
    ("referrals:join_links", "program", "get", MANAGERS),
    ("referrals:referrer_export", "program", "get", EVERYONE),
    ("campaigns:contract_analytics", "contract", "get", EVERYONE),
    ("campaigns:contract_analytics_export", "contract", "get", EVERYONE),
    ("campaigns:contract_analytics_recount", "contract", "post", EVERYONE),
    ("campaigns:analytics_overview", None, "get", EVERYONE),
    ("campaigns:analytics_overview_export", None, "get", EVERYONE),
    ("campaigns:distribution_list", "contract", "get", EVERYONE),
    ("campaigns:distribution_create", "contract", "get", MANAGERS),
    ("campaigns:distribution_detail", "distribution", "get", EVERYONE),
    ("campaigns:distribution_resend", "distribution", "post", REVIEWERS),
    ("campaigns:template_list", "contract", "get", EVERYONE),
    ("campaigns:template_create", "contract", "get", MANAGERS),
    ("campaigns:template_edit", "message_template", "get", MANAGERS),
    ("campaigns:template_preview", "message_template", "get", EVERYONE),
    ("campaigns:template_test", "message_template", "post", MANAGERS),
    ("campaigns:distribution_cancel", "distribution", "post", REVIEWERS),
    ("campaigns:batch_release_edit", "release_batch", "get", MANAGERS),
    ("campaigns:reminder_create", "contract", "get", MANAGERS),
    ("campaigns:reminder_edit", "reminder", "get", MANAGERS),
    ("campaigns:reminder_delete", "reminder", "post", MANAGERS),
    ("campaigns:wave_create", "contract", "get", MANAGERS),
    ("campaigns:wave_edit", "wave", "get", MANAGERS),
    ("campaigns:wave_delete", "wave", "post", MANAGERS),
    ("campaigns:alert_list", None, "get", EVERYONE),
    ("campaigns:alert_dismiss", "alert", "post", {ADMIN, MANAGER, SUPPORT}),
]
IDS = [m[0] for m in MATRIX]


@pytest.fixture
def objects(db):
    price = ContractPriceFactory()
    batch = services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=1, width=8
    )
    return {
        "organisation": price.contract.organisation.pk,
        "contract": price.contract.pk,
        "price": price.pk,
        "product": price.product_id,
        "batch": batch.pk,
        "code": batch.codes.get().pk,
        "participant": ParticipantFactory(contract=price.contract).pk,
        "import": services.participant_import_upload(
            actor=None,
            contract=price.contract,
            file=SimpleUploadedFile(
                "list.csv", b"First Name,Last Name,Email\nAnn,Lee,ann@example.com\n"
            ),
        ).pk,
    }


def _printed_plan() -> dict:
    """Made only for the pass pages' tests: it prints a PDF."""
    plan = pass_services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="printed", value_min=10, quantity=2
    )
    pass_services.pass_plan_activate(actor=None, plan=plan)
    return {"plan": plan.pk, "pass_batch": plan.batches.get().pk}


def _booking(contract_id: int) -> dict:
    code = InvitationCodeFactory(price=ContractPrice.objects.get(contract_id=contract_id))
    booking = services.booking_redeem(
        code=code.code,
        details=services.Details(first_name="Bo", last_name="Ok", email="bo@example.com"),
        client=services.Client(),
    )
    return {"booking": booking.pk}


def _referral_program() -> dict:
    """Made only for the referral pages' tests: a program with a tier, a flagged referral,
    an earned reward and a checked import."""
    program = referral_services.program_create(actor=None, name="Partners")
    tier = referral_services.tier_create(actor=None, program=program, name="Thanks", threshold=1)
    ann = ReferrerFactory(program=program, email="ann@example.com")
    bo = ReferrerFactory(program=program, email="bo@mailinator.com")
    referral = Referral.objects.create(
        program=program,
        referrer=ann,
        referred=bo,
        email=bo.email,
        review=Referral.Review.FLAGGED,
        flags=["disposable_email"],
    )
    reward = Reward.objects.create(program=program, tier=tier, referrer=ann, email=ann.email)
    checked = referral_services.referrer_import_check(
        actor=None, program=program, file_name="list.csv", data=b"Name,Email\nCy,cy@example.com\n"
    )
    return {
        "program": program.pk,
        "tier": tier.pk,
        "referral": referral.pk,
        "referrer": ann.pk,
        "reward": reward.pk,
        "referrer_import": checked.pk,
    }


def _alert(contract_id: int) -> dict:
    alert = Alert.objects.create(
        contract_id=contract_id,
        kind=Alert.Kind.FAILED_BURST,
        key="203.0.113.9",
        day=datetime.date(2026, 3, 10),
        count=15,
        message="15 failed attempts from 203.0.113.9",
    )
    return {"alert": alert.pk}


def _campaign(contract_id: int) -> dict:
    """A message template and a send of it (Resend failed answers "nothing failed")."""
    template = campaign_services.template_create(
        actor=None,
        contract=ContractPrice.objects.get(contract_id=contract_id).contract,
        name="Invitation",
        channel="email",
        subject="Your code",
        body="Your code: {code}",
    )
    distribution = Distribution.objects.create(
        contract_id=contract_id, template=template, channel="email"
    )
    return {"message_template": template.pk, "distribution": distribution.pk}


def _release_batch(contract_id: int) -> int:
    """A batch waiting for its release tomorrow."""
    price = ContractPrice.objects.filter(contract_id=contract_id).first()
    return services.code_batch_create(
        actor=None,
        contract=price.contract,
        price=price,
        quantity=1,
        width=9,
        release_at=timezone.now() + datetime.timedelta(days=1),
    ).pk


def _reminder(contract_id: int, template_id: int) -> int:
    template = MessageTemplate.objects.get(pk=template_id)
    return campaign_services.reminder_rule_create(
        actor=None, contract=template.contract, template=template, days_before=7
    ).pk


def _wave(template_id: int) -> int:
    template = MessageTemplate.objects.get(pk=template_id)
    return campaign_services.wave_create(
        actor=None,
        contract=template.contract,
        template=template,
        per_day=10,
        starts_on=timezone.localdate(),
    ).pk


REFERRAL_KEYS = ("program", "tier", "referral", "referrer", "reward", "referrer_import")


def _url(name: str, key: str | None, objects: dict) -> str:
    if key in ("plan", "pass_batch") and key not in objects:
        objects.update(_printed_plan())
    if key in REFERRAL_KEYS and key not in objects:
        objects.update(_referral_program())
    if key == "booking" and key not in objects:
        objects.update(_booking(objects["contract"]))
    if key in ("message_template", "distribution") and key not in objects:
        objects.update(_campaign(objects["contract"]))
    if key == "release_batch" and key not in objects:
        objects["release_batch"] = _release_batch(objects["contract"])
    if key == "reminder" and key not in objects:
        objects.update(_campaign(objects["contract"]))
        objects["reminder"] = _reminder(objects["contract"], objects["message_template"])
    if key == "wave" and key not in objects:
        objects.update(_campaign(objects["contract"]))
        objects["wave"] = _wave(objects["message_template"])
    if key == "alert" and key not in objects:
        objects.update(_alert(objects["contract"]))
    args = [objects[key]] if key else []
    if name == "invitations:code_qr":
        args.append("svg")
    if name.startswith("campaigns:") and "analytics" in name and name.endswith("_export"):
        return reverse(name, args=args) + "?table=summary"
    return reverse(name, args=args)


@pytest.mark.parametrize("role", sorted(EVERYONE))
@pytest.mark.parametrize(("name", "key", "method", "allowed"), MATRIX, ids=IDS)
def test_each_role_reaches_exactly_its_pages(client, objects, role, name, key, method, allowed):
    client.force_login(UserFactory(role=role))
    response = getattr(client, method)(_url(name, key, objects))
    if role in allowed:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            page = response.content.decode()
            assert 'href=""' not in page  # every Cancel and Back link goes somewhere
            assert "javascript:" not in page
        if response.status_code == 302:
            assert "/admin/login/" not in response["Location"]
    else:
        assert response.status_code == 403


@pytest.mark.parametrize(("name", "key", "method", "allowed"), MATRIX, ids=IDS)
def test_anonymous_visitors_are_sent_to_log_in(client, objects, name, key, method, allowed):
    response = getattr(client, method)(_url(name, key, objects))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(("name", "key", "method", "allowed"), MATRIX, ids=IDS)
def test_a_signed_in_user_who_is_not_staff_is_refused(client, objects, name, key, method, allowed):
    user = UserFactory(role=roles.ADMINISTRATOR, is_staff=False)
    client.force_login(user)
    assert getattr(client, method)(_url(name, key, objects)).status_code == 403


def test_the_matrix_covers_every_staff_url():
    resolver = get_resolver()
    names = {
        f"{namespace}:{name}"
        for namespace in (
            "core",
            "contracts",
            "invitations",
            "pass_plans",
            "referrals",
            "campaigns",
        )
        for name in resolver.namespace_dict[namespace][1].reverse_dict
        if isinstance(name, str)
    }
    assert names == {m[0] for m in MATRIX}
