from django.urls import path

from referrals.views import public as views

app_name = "referrals_public"

urlpatterns = [
    path("refer/<slug:slug>/", views.signup, name="signup"),
    path("refer/<slug:slug>/thanks/", views.signed_up, name="signed_up"),
    path("refer/confirm/<str:token>/", views.confirm, name="confirm"),
    path("refer/status/<str:token>/", views.status, name="status"),
    path("r/<str:code>/", views.visit, name="visit"),
    path("join/<str:token>/", views.join, name="join"),
]
