from django.urls import path

from invitations.views import register

app_name = "register"

urlpatterns = [
    path("register/", register.register_start, name="start"),
    path("register/booked/<str:token>/", register.register_booked, name="booked"),
    path(
        "register/account/<uidb64>/<token>/",
        register.SetPasswordView.as_view(),
        name="set_password",
    ),
    path("register/account/done/", register.set_password_done, name="set_password_done"),
    # Last: the booking link of any code, as printed in emails and QR codes.
    path("register/<str:code>/", register.register_book, name="book"),
]
