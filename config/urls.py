from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="contracts:organisation_list"), name="home"),
    path("admin/", admin.site.urls),
    path("staff/", include("contracts.urls")),
    path("staff/", include("invitations.urls")),
    path("staff/", include("passes.staff_urls")),
    path("staff/", include("referrals.urls")),
    path("staff/", include("campaigns.urls")),
    path("staff/", include("core.urls")),
    path("", include("passes.urls")),
    path("", include("invitations.register_urls")),
    path("", include("referrals.public_urls")),
    path("", include("campaigns.public_urls")),
    path("api/v1/", include(("wallets.api_urls", "wallets_api"))),
    path("api/v1/", include(("passes.api_urls", "passes_api"))),
    path("api/v1/", include(("invitations.api_urls", "invitations_api"))),
    path("api/v1/", include(("referrals.api_urls", "referrals_api"))),
    path("api/v1/", include(("contracts.api_urls", "contracts_api"))),
    path("api/v1/", include(("campaigns.api_urls", "campaigns_api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
]
