"""Referral programs: referral links, status pages, reward tiers, webhooks."""
