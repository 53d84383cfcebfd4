from django.urls import path

from passes import views

app_name = "passes"

urlpatterns = [
    path("passes/redeem/", views.redeem, name="redeem"),
    path("gifts/<int:pk>/", views.gift_buy, name="gift_buy"),
    path("gifts/received/<str:token>/", views.gift_landing, name="gift_landing"),
    path("wallet/<str:token>/", views.wallet_page, name="wallet_page"),
    path("wallet/claim/<str:token>/", views.wallet_claim, name="wallet_claim"),
]
