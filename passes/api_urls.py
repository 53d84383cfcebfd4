from django.urls import path

from passes import api

urlpatterns = [
    path("passes/redeem", api.PassRedeemApi.as_view(), name="pass_redeem"),
    path("passes/<str:code>", api.PassDetailApi.as_view(), name="pass_detail"),
    path("pass-plans/<int:pk>/passes", api.PassIssueApi.as_view(), name="pass_issue"),
    path("events/purchase", api.PurchaseEventApi.as_view(), name="purchase_event"),
]
