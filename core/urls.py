from django.urls import path

from core import views

app_name = "core"

urlpatterns = [
    path("preferences/time-zone/", views.time_zone, name="time_zone"),
]
