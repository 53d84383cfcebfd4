"""Every write of referral programs.

`programs` sets programs up; `signup` joins, confirms, visits and refers; `rewards`
counts referrals and gives rewards; `imports` brings existing users in; `notify` sends
the emails and webhooks the others ask for.
"""

from referrals.services.imports import referrer_import_check, referrer_import_complete
from referrals.services.notify import referral_email_send, welcome_emails_send
from referrals.services.programs import (
    WEBHOOK_EVENTS,
    endpoint_add,
    endpoint_remove,
    program_create,
    program_update,
    tier_create,
    tier_delete,
)
from referrals.services.rewards import (
    referral_count,
    reward_deliver,
    reward_deliver_auto,
    reward_revoke,
)
from referrals.services.signup import (
    AlreadyInProgram,
    ConversionConflict,
    Person,
    referral_convert,
    referral_review,
    referrer_by_code,
    referrer_confirm,
    referrer_join,
    referrer_links_resend,
    referrer_signup,
    referrer_status_link_renew,
    referrer_visit,
    signup_remember,
    signup_replayed,
)

__all__ = [
    "WEBHOOK_EVENTS",
    "AlreadyInProgram",
    "ConversionConflict",
    "Person",
    "endpoint_add",
    "endpoint_remove",
    "program_create",
    "program_update",
    "referral_convert",
    "referral_count",
    "referral_email_send",
    "referral_review",
    "referrer_by_code",
    "referrer_confirm",
    "referrer_import_check",
    "referrer_import_complete",
    "referrer_join",
    "referrer_links_resend",
    "referrer_signup",
    "referrer_status_link_renew",
    "referrer_visit",
    "reward_deliver",
    "reward_deliver_auto",
    "reward_revoke",
    "signup_remember",
    "signup_replayed",
    "tier_create",
    "tier_delete",
    "welcome_emails_send",
]
