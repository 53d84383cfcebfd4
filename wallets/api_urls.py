from django.urls import path

from wallets import api

urlpatterns = [
    path("wallets/<int:pk>/", api.WalletDetailApi.as_view(), name="wallet_detail"),
    path("wallets/<int:pk>/debit", api.WalletDebitApi.as_view(), name="wallet_debit"),
]
