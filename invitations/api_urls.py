from django.urls import path

from invitations import api

urlpatterns = [
    path("codes/validate", api.CodeValidateApi.as_view(), name="code_validate"),
    path("codes/redeem", api.CodeRedeemApi.as_view(), name="code_redeem"),
    path("crm/codes", api.CodeChangesApi.as_view(), name="crm_codes"),
    path("crm/bookings", api.BookingChangesApi.as_view(), name="crm_bookings"),
    path("crm/deleted-codes", api.DeletedCodesApi.as_view(), name="crm_deleted_codes"),
]
