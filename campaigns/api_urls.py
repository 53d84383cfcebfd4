from django.urls import path

from campaigns import api

urlpatterns = [
    path("sms/inbound", api.InboundSmsApi.as_view(), name="sms_inbound"),
]
