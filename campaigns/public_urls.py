from django.urls import path

from campaigns.views import distribution

app_name = "campaigns_public"

urlpatterns = [
    path("unsubscribe/<str:token>/", distribution.unsubscribe, name="unsubscribe"),
]
