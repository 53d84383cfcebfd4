"""What a program tells people (emails) and systems (webhooks) when something happens.

Every send happens after the caller's transaction commits, through Celery; the tasks
take ids and call back in here.
"""

from __future__ import annotations

from django.core.mail import EmailMessage, get_connection
from django.db import transaction

from core.webhooks import webhook_event_send
from referrals import emails, links, selectors
from referrals.models import Referral, ReferralProgram, Referrer, Reward


def referrer_data(referrer: Referrer) -> dict:
    return {
        "id": referrer.pk,
        "name": referrer.name,
        "company": referrer.company,
        "email": referrer.email,
        "code": referrer.code,
        "referral_link": links.referral_link(referrer),
    }


def referral_data(referral: Referral) -> dict:
    return {
        "id": referral.pk,
        "email": referral.email,
        "external_id": referral.external_id,
        "stage": referral.stage,
        "review": referral.review,
        "flags": referral.flags,
        "referrer": referrer_data(referral.referrer),
    }


def reward_data(reward: Reward) -> dict:
    return {
        "id": reward.pk,
        "state": reward.state,
        "side": reward.side,
        "email": reward.email,
        "tier": {
            "id": reward.tier_id,
            "name": reward.tier.name,
            "threshold": reward.tier.threshold,
            "kind": reward.tier.kind,
        },
        "delivery": reward.delivery,
        "referrer": referrer_data(reward.referrer),
        "referral_id": reward.referral_id,
    }


def announce(program: ReferralProgram, event: str, data: dict) -> None:
    """Queue a webhook event for the program's endpoints (sent once the caller commits)."""
    endpoints = list(program.webhook_endpoints.filter(is_active=True))
    if endpoints:
        webhook_event_send(endpoints=endpoints, event=event, data={"program": program.slug, **data})


def email_later(kind: str, referrer_id: int, *, about_id: int | None = None) -> None:
    """Send one of the program's emails after commit (kind: confirm, welcome, referral, reward)."""
    from referrals.tasks import send_referral_email

    transaction.on_commit(
        lambda: send_referral_email.delay(kind, referrer_id, about_id), robust=True
    )


def values_for(referrer: Referrer, *, tiers: list | None = None) -> dict[str, str]:
    status = selectors.referrer_status(referrer=referrer, tiers=tiers)
    return {
        "name": referrer.name,
        "company": referrer.company,
        "program": referrer.program.name,
        "referral_link": links.referral_link(referrer),
        "status_link": links.status_link(referrer),
        "successful": str(referrer.successful),
        "next_reward": status.next_reward_text,
    }


def message_for(
    kind: str, referrer: Referrer, about_id: int | None = None, *, tiers: list | None = None
) -> EmailMessage:
    """The email of `kind` for a referrer, ready to send."""
    program = referrer.program
    if kind == "confirm":
        link = links.confirm_link(referrer)
        subject = f"Confirm your email for {program.name}"
        body = (
            f"Hello {referrer.name},\n\nPlease confirm your email to join {program.name}:\n\n"
            f"  {link}\n\nIf you did not sign up, ignore this email; nothing happens.\n"
        )
        return EmailMessage(subject, body, to=[referrer.email])
    if kind == "status_link":
        subject = f"Your new status page link for {program.name}"
        body = (
            f"Hello {referrer.name},\n\nYour status page for {program.name} has a new link; "
            f"the old one no longer opens:\n\n  {links.status_link(referrer)}\n\n"
            "Keep it to yourself: it shows your rewards.\n"
        )
        return EmailMessage(subject, body, to=[referrer.email])
    values = values_for(referrer, tiers=tiers)
    to = referrer.email
    if kind == "referral" and about_id:
        referral = Referral.objects.filter(pk=about_id).select_related("referred").first()
        values["referred_name"] = (
            referral.referred.name if referral and referral.referred else referral.email
        )
    if kind == "reward" and about_id:
        from referrals.services.rewards import reward_email_details

        reward = Reward.objects.select_related("tier").get(pk=about_id)
        values["reward"] = reward.tier.name
        values["reward_details"] = reward_email_details(reward)
        to = reward.email
        if reward.email != referrer.email:
            # A referred company's reward when it never joined: no links of its own.
            values.update(
                name=reward.email.split("@")[0],
                company="",
                successful="",
                next_reward="",
                referral_link=links.site(
                    links.reverse("referrals_public:signup", args=[program.slug])
                ),
                status_link=links.site(
                    links.reverse("referrals_public:signup", args=[program.slug])
                ),
            )
    subject, body = emails.render(program, kind, values)
    return EmailMessage(subject, body, to=[to])


def referral_email_send(*, kind: str, referrer_id: int, about_id: int | None = None) -> bool:
    referrer = Referrer.objects.select_related("program").filter(pk=referrer_id).first()
    if referrer is None:
        return False
    message_for(kind, referrer, about_id).send()
    return True


def welcome_emails_send(*, referrer_ids: list[int]) -> int:
    """Welcome emails for many referrers (an import) over one connection."""
    connection = get_connection()
    sent = 0
    tiers: dict[int, list] = {}  # per program, read once rather than per email
    for chunk_start in range(0, len(referrer_ids), 500):
        chunk = Referrer.objects.select_related("program").filter(
            pk__in=referrer_ids[chunk_start : chunk_start + 500]
        )
        messages = []
        for referrer in chunk:
            if referrer.program_id not in tiers:
                tiers[referrer.program_id] = list(referrer.program.tiers.all())
            messages.append(message_for("welcome", referrer, tiers=tiers[referrer.program_id]))
        sent += connection.send_messages(messages) or 0
    return sent
