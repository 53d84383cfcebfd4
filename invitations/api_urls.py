from django.urls import path

from invitations import api

urlpatterns = [
    path("codes/validate", api.CodeValidateApi.as_view(), name="code_validate"),
    path("codes/redeem", api.CodeRedeemApi.as_view(), name="code_redeem"),
]
