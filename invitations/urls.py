from django.urls import path

from invitations.views import bookings, codes, participants

app_name = "invitations"

urlpatterns = [
    path("contracts/<int:pk>/codes/", codes.code_list, name="code_list"),
    path("contracts/<int:pk>/codes/generate/", codes.code_generate, name="code_generate"),
    path("contracts/<int:pk>/codes/csv/", codes.code_export, name="code_export"),
    path("batches/<int:pk>/progress/", codes.batch_progress, name="batch_progress"),
    path(
        "contracts/<int:pk>/codes/shared/", bookings.shared_code_create, name="shared_code_create"
    ),
    path("codes/<int:pk>/", codes.code_detail, name="code_detail"),
    path("codes/<int:pk>/qr.<str:kind>", bookings.code_qr, name="code_qr"),
    path("contracts/<int:pk>/bookings/", bookings.booking_list, name="booking_list"),
    path("bookings/<int:pk>/void/", bookings.booking_void, name="booking_void"),
    path("contracts/<int:pk>/redemptions/", bookings.redemption_log, name="redemption_log"),
    path(
        "contracts/<int:pk>/redemptions/csv/",
        bookings.redemption_log_export,
        name="redemption_log_export",
    ),
    path("codes/<int:pk>/edit/", codes.code_edit, name="code_edit"),
    path("codes/<int:pk>/archive/", codes.code_archive, name="code_archive"),
    path("codes/<int:pk>/delete/", codes.code_delete, name="code_delete"),
    path(
        "contracts/<int:pk>/participants/",
        participants.participant_list,
        name="participant_list",
    ),
    path(
        "contracts/<int:pk>/participants/add/",
        participants.participant_create,
        name="participant_create",
    ),
    path(
        "contracts/<int:pk>/participants/csv/",
        participants.participant_export,
        name="participant_export",
    ),
    path(
        "contracts/<int:pk>/participants/csv-template/",
        participants.participant_csv_template,
        name="participant_csv_template",
    ),
    path(
        "contracts/<int:pk>/participants/upload/",
        participants.participant_upload,
        name="participant_upload",
    ),
    path("participants/<int:pk>/", participants.participant_detail, name="participant_detail"),
    path("participants/<int:pk>/edit/", participants.participant_edit, name="participant_edit"),
    path(
        "participants/<int:pk>/delete/",
        participants.participant_delete,
        name="participant_delete",
    ),
    path(
        "participants/<int:pk>/generate-code/",
        participants.participant_code_generate,
        name="participant_code_generate",
    ),
    path("imports/<int:pk>/", participants.participant_import, name="participant_import"),
    path(
        "imports/<int:pk>/complete/",
        participants.participant_import_complete,
        name="participant_import_complete",
    ),
    path(
        "imports/<int:pk>/progress/",
        participants.participant_import_progress,
        name="participant_import_progress",
    ),
]
