from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="contracts:organisation_list"), name="home"),
    path("admin/", admin.site.urls),
    path("staff/", include("contracts.urls")),
    path("staff/", include("invitations.urls")),
]
