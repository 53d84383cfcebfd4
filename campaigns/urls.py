from django.urls import path

from campaigns.views import alerts, analytics, distribution, schedules

app_name = "campaigns"

urlpatterns = [
    # Distribution: templates, sends, statuses (campaigns/views/distribution.py).
    path("contracts/<int:pk>/templates/", distribution.template_list, name="template_list"),
    path("contracts/<int:pk>/templates/new/", distribution.template_create, name="template_create"),
    path("message-templates/<int:pk>/edit/", distribution.template_edit, name="template_edit"),
    path(
        "message-templates/<int:pk>/preview/",
        distribution.template_preview,
        name="template_preview",
    ),
    path("message-templates/<int:pk>/test/", distribution.template_test_send, name="template_test"),
    path("contracts/<int:pk>/send/", distribution.distribution_create, name="distribution_create"),
    path(
        "contracts/<int:pk>/distributions/",
        distribution.distribution_list,
        name="distribution_list",
    ),
    path("distributions/<int:pk>/", distribution.distribution_detail, name="distribution_detail"),
    path(
        "distributions/<int:pk>/resend/",
        distribution.distribution_resend,
        name="distribution_resend",
    ),
    # Schedules on the Messages tab (campaigns/views/schedules.py).
    path(
        "distributions/<int:pk>/cancel/",
        schedules.distribution_cancel,
        name="distribution_cancel",
    ),
    path(
        "code-batches/<int:pk>/release/",
        schedules.batch_release_edit,
        name="batch_release_edit",
    ),
    path("contracts/<int:pk>/reminders/new/", schedules.reminder_create, name="reminder_create"),
    path("reminders/<int:pk>/edit/", schedules.reminder_edit, name="reminder_edit"),
    path("reminders/<int:pk>/delete/", schedules.reminder_delete, name="reminder_delete"),
    path("contracts/<int:pk>/waves/new/", schedules.wave_create, name="wave_create"),
    path("waves/<int:pk>/edit/", schedules.wave_edit, name="wave_edit"),
    path("waves/<int:pk>/delete/", schedules.wave_delete, name="wave_delete"),
    # Analytics (campaigns/views/analytics.py).
    path("contracts/<int:pk>/analytics/", analytics.contract_analytics, name="contract_analytics"),
    path(
        "contracts/<int:pk>/analytics/export/",
        analytics.contract_analytics_export,
        name="contract_analytics_export",
    ),
    path(
        "contracts/<int:pk>/analytics/recount/",
        analytics.contract_analytics_recount,
        name="contract_analytics_recount",
    ),
    path("analytics/", analytics.overview, name="analytics_overview"),
    path("analytics/export/", analytics.overview_export, name="analytics_overview_export"),
    # Anomaly alerts (campaigns/views/alerts.py).
    path("alerts/", alerts.alert_list, name="alert_list"),
    path("alerts/<int:pk>/dismiss/", alerts.alert_dismiss, name="alert_dismiss"),
]
