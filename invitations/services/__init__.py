"""Every write to invitation codes, and to participants where codes are involved.

`generation` makes and edits codes; `participants` issues codes to participants and
runs the participant CSV import; `redemption` books with codes, refuses, voids and logs.
"""

from invitations.services.generation import (
    code_archive,
    code_batch_create,
    code_batch_generate,
    code_delete,
    code_revoke,
    code_update,
)
from invitations.services.participants import (
    CodeAlreadyHeld,
    participant_code_generate,
    participant_import_complete,
    participant_import_run,
    participant_import_upload,
    participant_import_validate,
    participant_imports_expire,
)
from invitations.services.redemption import (
    PERSON_FIELDS,
    Client,
    Details,
    IdempotencyConflict,
    RedemptionRefused,
    attempt_record,
    booking_confirmation_send,
    booking_redeem,
    booking_void,
    code_check,
    code_find,
    code_refusal,
    contract_access_group,
    has_quota,
    public_attempt_close,
    public_attempt_open,
    public_attempt_spare_code,
    quota_refusal,
    shared_code_create,
    web_request_hash,
)
from invitations.services.schedules import (
    code_batch_release_update,
    code_batches_release_due,
    codes_expire_sweep,
)

__all__ = [
    "PERSON_FIELDS",
    "Client",
    "CodeAlreadyHeld",
    "Details",
    "IdempotencyConflict",
    "RedemptionRefused",
    "attempt_record",
    "booking_confirmation_send",
    "booking_redeem",
    "booking_void",
    "code_archive",
    "code_batch_create",
    "code_batch_generate",
    "code_batch_release_update",
    "code_batches_release_due",
    "code_check",
    "code_delete",
    "code_find",
    "code_refusal",
    "code_revoke",
    "code_update",
    "codes_expire_sweep",
    "contract_access_group",
    "has_quota",
    "participant_code_generate",
    "participant_import_complete",
    "participant_import_run",
    "participant_import_upload",
    "participant_import_validate",
    "participant_imports_expire",
    "public_attempt_close",
    "public_attempt_open",
    "public_attempt_spare_code",
    "quota_refusal",
    "shared_code_create",
    "web_request_hash",
]
