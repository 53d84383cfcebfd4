"""Reads shared by the staff pages, the public pages, the emails and the API."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from referrals.models import Referral, ReferralProgram, Referrer, Reward, RewardTier


def program_list(*, search: str = "") -> QuerySet[ReferralProgram]:
    programs = (
        ReferralProgram.objects.select_related("contract")
        .annotate(referrer_count=Count("referrers", distinct=True))
        .order_by("name", "pk")
    )
    if search:
        programs = programs.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    return programs


def program_counts(*, program: ReferralProgram) -> dict[str, int]:
    referrals = program.referrals.aggregate(
        total=Count("pk"),
        counted=Count("pk", filter=Q(counted_at__isnull=False)),
        flagged=Count("pk", filter=Q(review=Referral.Review.FLAGGED)),
    )
    rewards = program.rewards.aggregate(
        earned=Count("pk", filter=Q(state=Reward.State.EARNED)),
        delivered=Count("pk", filter=Q(state=Reward.State.DELIVERED)),
    )
    return {"referrers": program.referrers.count(), **referrals, **rewards}


def referrer_list(*, program: ReferralProgram, search: str = "") -> QuerySet[Referrer]:
    referrers = program.referrers.all()
    if search:
        term = search.strip()
        referrers = referrers.filter(
            Q(email__icontains=term)
            | Q(name__icontains=term)
            | Q(company__icontains=term)
            | Q(code=term.upper())
        )
    return referrers


def referral_list(
    *, program: ReferralProgram, review: str = "", search: str = ""
) -> QuerySet[Referral]:
    referrals = program.referrals.select_related("referrer", "referred", "reviewed_by")
    if review:
        referrals = referrals.filter(review=review)
    if search:
        referrals = referrals.filter(
            Q(email__icontains=search) | Q(referrer__email__icontains=search)
        )
    return referrals


def reward_list(*, program: ReferralProgram, state: str = "") -> QuerySet[Reward]:
    rewards = program.rewards.select_related("tier", "referrer")
    if state:
        rewards = rewards.filter(state=state)
    return rewards


@dataclass
class ReferrerStatus:
    referrer: Referrer
    tiers: list[RewardTier]
    rewards: list[Reward] = field(default_factory=list)
    next_tier: RewardTier | None = None
    needed: int = 0

    @property
    def next_reward_text(self) -> str:
        if self.next_tier is None:
            return "You have earned every reward of the program." if self.tiers else ""
        more = "referral" if self.needed == 1 else "referrals"
        return f"{self.needed} more {more} earns {self.next_tier.name}."

    @property
    def progress_percent(self) -> int:
        if self.next_tier is None:
            return 100
        return int(100 * self.referrer.successful / self.next_tier.threshold)


def referrer_status(
    *, referrer: Referrer, with_rewards: bool = False, tiers: list[RewardTier] | None = None
) -> ReferrerStatus:
    """What the status page shows: counts, rewards, and what the next reward needs.

    `tiers`: the program's tiers when the caller has them (many referrers of one program).
    """
    if tiers is None:
        tiers = list(RewardTier.objects.filter(program_id=referrer.program_id))
    status = ReferrerStatus(referrer=referrer, tiers=tiers)
    for tier in tiers:  # ordered by threshold
        if tier.threshold > referrer.successful:
            status.next_tier, status.needed = tier, tier.threshold - referrer.successful
            break
    if with_rewards:
        status.rewards = list(
            # Its own rewards, and a two-sided one it got as the referred company.
            Reward.objects.filter(referrer=referrer)
            .filter(Q(side=Reward.Side.REFERRER) | Q(email=referrer.email))
            .exclude(state=Reward.State.REVOKED)
            .select_related("tier")
            .order_by("tier__threshold")
        )
    return status
