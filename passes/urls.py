from django.urls import path

from passes import views

app_name = "passes"

urlpatterns = [
    path("passes/redeem/", views.redeem, name="redeem"),
    path("wallet/<str:token>/", views.wallet_page, name="wallet_page"),
    path("wallet/claim/<str:token>/", views.wallet_claim, name="wallet_claim"),
]
