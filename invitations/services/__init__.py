"""Every write to invitation codes, and to participants where codes are involved.

`generation` makes and edits codes; `participants` issues codes to participants and
runs the participant CSV import.
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

__all__ = [
    "CodeAlreadyHeld",
    "code_archive",
    "code_batch_create",
    "code_batch_generate",
    "code_delete",
    "code_revoke",
    "code_update",
    "participant_code_generate",
    "participant_import_complete",
    "participant_import_run",
    "participant_import_upload",
    "participant_import_validate",
    "participant_imports_expire",
]
