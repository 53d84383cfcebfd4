"""Every write of the campaigns app.

`distribution` writes message templates and distributions, sends and resends them, and
opts participants out; `reminders` and `waves` keep reminder rules and waves and send
them daily; `alerts` finds anomalies in the redemption log, dismisses and emails alerts.
"""

from campaigns.services.alerts import alert_dismiss, alert_email_send, alerts_detect
from campaigns.services.distribution import (
    distribution_cancel,
    distribution_create,
    distribution_resend,
    distribution_send,
    distributions_start_due,
    is_stop_message,
    participant_unsubscribe,
    participants_sms_opt_out,
    template_create,
    template_test_send,
    template_update,
    unsubscribe_reader,
    unsubscribe_token,
    unsubscribe_url,
)
from campaigns.services.reminders import (
    reminder_rule_create,
    reminder_rule_delete,
    reminder_rule_update,
    reminders_send,
)
from campaigns.services.waves import wave_create, wave_delete, wave_update, waves_send

__all__ = [
    "alert_dismiss",
    "alert_email_send",
    "alerts_detect",
    "distribution_cancel",
    "distribution_create",
    "distribution_resend",
    "distribution_send",
    "distributions_start_due",
    "is_stop_message",
    "participant_unsubscribe",
    "participants_sms_opt_out",
    "reminder_rule_create",
    "reminder_rule_delete",
    "reminder_rule_update",
    "reminders_send",
    "template_create",
    "template_test_send",
    "template_update",
    "unsubscribe_reader",
    "unsubscribe_token",
    "unsubscribe_url",
    "wave_create",
    "wave_delete",
    "wave_update",
    "waves_send",
]
