from django.urls import path

from passes import staff_views as views

app_name = "pass_plans"

urlpatterns = [
    path("pass-plans/", views.plan_list, name="plan_list"),
    path("pass-plans/new/", views.plan_create, name="plan_create"),
    path("pass-plans/<int:pk>/", views.plan_detail, name="plan_detail"),
    path("pass-plans/<int:pk>/edit/", views.plan_edit, name="plan_edit"),
    path("pass-plans/<int:pk>/activate/", views.plan_activate, name="plan_activate"),
    path("pass-plans/<int:pk>/close/", views.plan_close, name="plan_close"),
    path("pass-plans/<int:pk>/issue/", views.pass_issue, name="pass_issue"),
    path("pass-batches/<int:pk>/progress/", views.batch_progress, name="batch_progress"),
    path("pass-batches/<int:pk>/pdf/", views.batch_pdf, name="batch_pdf"),
]
