from django.urls import path

from referrals import api

urlpatterns = [
    path("referrals/conversions", api.ConversionApi.as_view(), name="conversion_create"),
]
