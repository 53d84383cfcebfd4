from django.urls import path

from referrals.views import imports, staff

app_name = "referrals"

urlpatterns = [
    path("referral-programs/", staff.program_list, name="program_list"),
    path("referral-programs/new/", staff.program_create, name="program_create"),
    path("referral-programs/<int:pk>/", staff.program_detail, name="program_detail"),
    path("referral-programs/<int:pk>/edit/", staff.program_edit, name="program_edit"),
    path("referral-programs/<int:pk>/emails/", staff.program_emails, name="program_emails"),
    path("referral-programs/<int:pk>/tiers/new/", staff.tier_create, name="tier_create"),
    path("reward-tiers/<int:pk>/delete/", staff.tier_delete, name="tier_delete"),
    path("referral-programs/<int:pk>/webhooks/new/", staff.endpoint_add, name="endpoint_add"),
    path(
        "referral-programs/<int:pk>/webhooks/remove/",
        staff.endpoint_remove,
        name="endpoint_remove",
    ),
    path("referral-programs/<int:pk>/referrers/", staff.referrer_list, name="referrer_list"),
    path(
        "referrers/<int:pk>/status-link/",
        staff.referrer_status_link_renew,
        name="referrer_status_link_renew",
    ),
    path("referral-programs/<int:pk>/referrals/", staff.referral_list, name="referral_list"),
    path("referrals/<int:pk>/review/", staff.referral_review, name="referral_review"),
    path("referral-programs/<int:pk>/rewards/", staff.reward_list, name="reward_list"),
    path("rewards/<int:pk>/deliver/", staff.reward_deliver, name="reward_deliver"),
    path("rewards/<int:pk>/revoke/", staff.reward_revoke, name="reward_revoke"),
    path("referral-programs/<int:pk>/import/", imports.import_upload, name="import_upload"),
    path(
        "referral-programs/<int:pk>/import/template.csv",
        imports.import_template,
        name="import_template",
    ),
    path("referrer-imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path("referrer-imports/<int:pk>/complete/", imports.import_complete, name="import_complete"),
    path("referral-programs/<int:pk>/join-links/", imports.join_links, name="join_links"),
    path(
        "referral-programs/<int:pk>/referrers/export/",
        imports.referrer_export,
        name="referrer_export",
    ),
]
