"""Counting successful referrals, firing reward tiers once, delivering and revoking rewards."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from referrals import links
from referrals.models import Referral, ReferralProgram, Referrer, Reward, RewardTier
from referrals.services import notify

COUNTABLE_REVIEWS = (Referral.Review.CLEAN, Referral.Review.APPROVED)


def _successful(referral: Referral, program: ReferralProgram) -> bool:
    if referral.review not in COUNTABLE_REVIEWS:
        return False
    if program.success_event == ReferralProgram.Success.CONVERSION:
        return referral.stage == Referral.Stage.CONVERTED
    return referral.stage in (Referral.Stage.CONFIRMED, Referral.Stage.CONVERTED)


def referral_count(*, referral: Referral) -> list[Reward]:
    """Count a successful referral once towards its referrer, and fire the tiers it reaches.

    The referrer's row is locked first, so two referrals counted at once add up one after
    the other; the referral is marked counted with a conditional UPDATE (counted once, even
    when confirmed and converted at the same moment); the unique constraints on rewards
    make a tier fire once per referrer whatever happens. Returns the rewards earned.
    """
    program = ReferralProgram.objects.get(pk=referral.program_id)
    if not _successful(referral, program):
        return []
    with transaction.atomic():
        referrer = Referrer.objects.select_for_update().get(pk=referral.referrer_id)
        now = timezone.now()
        counted = Referral.objects.filter(pk=referral.pk, counted_at__isnull=True).update(
            counted_at=now
        )
        if not counted:
            return []
        referral.counted_at = now
        Referrer.objects.filter(pk=referrer.pk).update(successful=F("successful") + 1)
        referrer.refresh_from_db(fields=["successful"])
        return _fire_tiers(program=program, referrer=referrer, referral=referral)


def _fire_tiers(
    *, program: ReferralProgram, referrer: Referrer, referral: Referral
) -> list[Reward]:
    already = Reward.objects.filter(referrer=referrer, side=Reward.Side.REFERRER)
    reached = RewardTier.objects.filter(program=program, threshold__lte=referrer.successful)
    reached = reached.exclude(pk__in=already.values("tier_id"))
    created = []
    for tier in reached:
        created.append(Reward(program=program, tier=tier, referrer=referrer, email=referrer.email))
        if tier.two_sided:
            created.append(
                Reward(
                    program=program,
                    tier=tier,
                    # The referred company's reward is on its own record when it signed up.
                    referrer=referral.referred or referrer,
                    side=Reward.Side.REFERRED,
                    referral=referral,
                    email=referral.email,
                )
            )
    # The referrer's lock makes these new; the unique constraints would refuse a second.
    Reward.objects.bulk_create(created)
    for reward in created:
        notify.announce(program, "reward.earned", {"reward": notify.reward_data(reward)})
        if reward.tier.kind == RewardTier.Kind.MANUAL:
            notify.email_later("reward", reward.referrer_id, about_id=reward.pk)
        else:
            reward_id = reward.pk
            from referrals.tasks import deliver_reward

            transaction.on_commit(lambda r=reward_id: deliver_reward.delay(r), robust=True)
    return created


def reward_deliver(*, actor: User | None, reward: Reward, note: str = "") -> Reward:
    """Deliver an earned reward: issue what its tier gives, or record a delivery by hand.

    Runs in one transaction with the reward's row locked: a second click, or the task
    and a person at once, deliver it once. A failure to issue (a closed plan, a full code
    space) leaves the reward earned, with the reason shown to staff.
    """
    try:
        with transaction.atomic():
            reward = (
                Reward.objects.select_for_update()
                .select_related("tier", "referrer", "program")
                .get(pk=reward.pk)
            )
            if reward.state != Reward.State.EARNED:
                raise DomainError(f"This reward is {reward.get_state_display().lower()} already.")
            _issue(reward, actor=actor)
            reward.state = Reward.State.DELIVERED
            reward.delivered_at = timezone.now()
            reward.delivery_error = ""
            if note:
                reward.note = note[:500]
            reward.save(
                update_fields=[
                    "state",
                    "delivered_at",
                    "delivery_error",
                    "note",
                    "delivery",
                    "code",
                    "pass_obj",
                    "wallet_transaction",
                ]
            )
            notify.announce(
                reward.program, "reward.delivered", {"reward": notify.reward_data(reward)}
            )
            # A reward given by hand was announced by email when earned; the others now,
            # with what was issued.
            if reward.tier.kind != RewardTier.Kind.MANUAL:
                notify.email_later("reward", reward.referrer_id, about_id=reward.pk)
            return reward
    except (DomainError, ValidationError) as exc:
        message = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        if reward.state == Reward.State.EARNED:
            Reward.objects.filter(pk=reward.pk).update(delivery_error=message[:500])
        if isinstance(exc, ValidationError):
            raise DomainError(f"Could not issue the reward: {message}") from exc
        raise


def _issue(reward: Reward, *, actor: User | None) -> None:
    tier = reward.tier
    if tier.kind == RewardTier.Kind.MANUAL:
        reward.delivery = reward.delivery or f"{tier.name}, delivered by hand"
    elif tier.kind == RewardTier.Kind.CODE:
        from invitations.services import code_batch_create

        price = tier.price
        batch = code_batch_create(
            actor=actor,
            contract=price.contract,
            price=price,
            quantity=1,
            width=10,
            note=f"Referral reward {tier.name} for {reward.email}"[:500],
        )
        reward.code = batch.codes.get()
        reward.delivery = f"Your code: {reward.code.code} ({price.product.name})"
    elif tier.kind == RewardTier.Kind.PASS:
        from passes.services import pass_issue

        issued, _ = pass_issue(actor=actor, plan=tier.pass_plan, contact=None)
        reward.pass_obj = issued
        # The PIN is never kept: the reward email sets a fresh one (reward_email_details).
        reward.delivery = f"Your pass: {issued.code}"
    elif tier.kind == RewardTier.Kind.WALLET:
        reward.wallet_transaction = _credit(reward, actor=actor)
        reward.delivery = f"{tier.credit_amount} {tier.credit_currency} credited to your wallet"


def _credit(reward: Reward, *, actor: User | None):
    from wallets.models import Wallet
    from wallets.services import wallet_create, wallet_credit

    tier = reward.tier
    holder = Referrer.objects.select_for_update().get(pk=reward.referrer_id)
    wallet = None
    if holder.email == reward.email and holder.wallet_id:
        wallet = Wallet.objects.get(pk=holder.wallet_id)
    if wallet is None or wallet.currency != tier.credit_currency:
        wallet = wallet_create(owner=None, currency=tier.credit_currency)
        if holder.email == reward.email:
            holder.wallet = wallet
            holder.save(update_fields=["wallet"])
    return wallet_credit(
        actor=actor,
        wallet=wallet,
        amount=tier.credit_amount,
        source=reward,
        description=f"Referral reward {tier.name}",
        idempotency_key=f"referral-reward:{reward.pk}",
    )


def reward_email_details(reward: Reward) -> str:
    """What the reward email tells beyond the stored delivery line: a pass's PIN, set anew
    at sending (as gift emails do), and the wallet page a credit went to."""
    details = [reward.delivery]
    if reward.pass_obj_id and reward.state == Reward.State.DELIVERED:
        from passes.services import pass_update

        issued = reward.pass_obj
        if issued.plan.pin_required and issued.status == "active":
            _, pin = pass_update(actor=None, pass_obj=issued, reset_pin=True)
            details.append(f"PIN: {pin}")
        details.append(f"Redeem it at {links.site(reverse('passes:redeem'))}")
    if reward.wallet_transaction_id:
        wallet = reward.wallet_transaction.wallet
        details.append(
            f"Your wallet: {links.site(reverse('passes:wallet_page', args=[wallet.page_token]))}"
        )
    return "\n".join(details)


def reward_deliver_auto(*, reward_id: int) -> bool:
    """The task's delivery of an automatic reward; a refusal stays on the reward for staff."""
    reward = Reward.objects.filter(pk=reward_id, state=Reward.State.EARNED).first()
    if reward is None:
        return False
    try:
        reward_deliver(actor=None, reward=reward)
    except DomainError:
        return False
    return True


@transaction.atomic
def reward_revoke(*, actor: User | None, reward: Reward, note: str = "") -> Reward:
    """Take a reward back (staff); an unused reward code is revoked with it."""
    reward = (
        Reward.objects.select_for_update()
        .select_related("tier", "program", "referrer")
        .get(pk=reward.pk)
    )
    if reward.state == Reward.State.REVOKED:
        raise DomainError("This reward is revoked already.")
    if reward.code_id:
        from invitations.models import InvitationCode
        from invitations.services import code_revoke

        code = InvitationCode.objects.get(pk=reward.code_id)
        if code.uses == 0:
            code_revoke(actor=actor, code=code)
    reward.state = Reward.State.REVOKED
    reward.revoked_at = timezone.now()
    reward.note = (note or reward.note)[:500]
    reward.save(update_fields=["state", "revoked_at", "note"])
    notify.announce(reward.program, "reward.revoked", {"reward": notify.reward_data(reward)})
    return reward
