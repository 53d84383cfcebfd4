"""The public registration page: enter a code, book, see the confirmation.

No staff chrome, phone first. Every attempt is counted per address and per code and
logged; the booking itself is `services.booking_redeem`.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy

from core import throttle
from core.forms import add_service_errors
from invitations import services
from invitations.forms import (
    TOKEN_AGE,
    TOKEN_SALT,
    BookingForm,
    CodeEntryForm,
    booking_form_token,
)
from invitations.models import Booking, InvitationCode, RedemptionAttempt
from invitations.services import Client, Details, RedemptionRefused

CONFIRMATION_SALT = "invitations.booking-confirmation"
Result = RedemptionAttempt.Result
# Refusals about who books rather than the code: the form is shown again with its values.
PERSON_REASONS = {
    Result.REGION,
    Result.GROUP,
    Result.ALREADY_BOOKED,
    Result.NOT_ON_LIST,
    Result.HAS_INVITATION,
}


def _client(request: HttpRequest) -> Client:
    return Client(
        channel=Booking.Channel.WEB,
        address=throttle.client_address(request),
        user_agent=request.headers.get("User-Agent", ""),
        user=request.user,
    )


def _refused(request: HttpRequest, typed: str, refusal: RedemptionRefused) -> HttpResponse:
    """The page again with the reason; a throttled client gets 429."""
    status = 429 if refusal.reason == Result.THROTTLED else 200
    form = CodeEntryForm(initial={"code": typed})
    return render(
        request,
        "register/start.html",
        {"form": form, "error": refusal.message, "reason": refusal.reason},
        status=status,
    )


def _look_up(request: HttpRequest, typed: str) -> InvitationCode | RedemptionRefused:
    """The code if it can be booked with now; a refusal (logged and counted) if not."""
    client = _client(request)
    try:
        services.public_attempt_open(client=client, typed=typed)
        code = services.code_find(typed)
        refusal = services.code_refusal(code) or services.quota_refusal(code.contract, code)
        if refusal:
            raise refusal
    except RedemptionRefused as exc:
        if exc.reason != Result.THROTTLED:
            services.attempt_record(
                client=client, typed=typed, result=exc.reason, code=exc.code, message=exc.message
            )
        return exc
    services.public_attempt_close(client=client, typed=typed)
    return code


def register_start(request: HttpRequest) -> HttpResponse:
    """Enter a code (for people who arrive without a booking link)."""
    form = CodeEntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        typed = form.cleaned_data["code"]
        found = _look_up(request, typed)
        if isinstance(found, RedemptionRefused):
            return _refused(request, typed, found)
        return redirect("register:book", code=found.display)
    return render(request, "register/start.html", {"form": form})


def register_book(request: HttpRequest, code: str) -> HttpResponseBase:
    """The booking link `/register/<code>/`: the product, the price and the booking form."""
    request_hash = ""
    if request.method == "POST":
        request_hash = services.web_request_hash(code=code, fields=request.POST)
        # A double click or a retry of a form that booked: the first booking stands.
        earlier = _earlier_booking(request, request_hash)
        if earlier is not None:
            return _to_confirmation(earlier)
    found = _look_up(request, code)
    if isinstance(found, RedemptionRefused):
        return _refused(request, code, found)
    form = BookingForm(request.POST or None, code=found, initial={"token": booking_form_token()})
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            client = _client(request)
            try:
                services.public_attempt_open(client=client, typed=code)
                booking = services.booking_redeem(
                    code=code,
                    details=Details.from_data(data),
                    client=client,
                    idempotency_key=f"web:{data['token']}",
                    request_hash=request_hash,
                    create_account=data.get("create_account", False),
                )
            except services.IdempotencyConflict:
                # The form booked already, for other details (the back button on a shared
                # device): this is a new booking, with a new token.
                services.public_attempt_close(client=client, typed=code)
                form.data = form.data.copy()
                form.data["token"] = booking_form_token()
                form.add_error(
                    None,
                    "This form was used for a booking already. Check the "
                    "details and press Book again to make another.",
                )
            except RedemptionRefused as exc:
                if exc.reason not in PERSON_REASONS:
                    return _refused(request, code, exc)
                # About the person, not the code: their details stay, to correct them.
                services.public_attempt_spare_code(typed=code)
                form.add_error(None, exc.message)
            except ValidationError as exc:
                services.public_attempt_close(client=client, typed=code)
                add_service_errors(form, exc)
            else:
                services.public_attempt_close(client=client, typed=code)
                return _to_confirmation(booking)
        # Form errors do not touch the code; the same token is kept for the next try.
        form.data = form.data.copy()
        if "token" in form.errors:
            form.data["token"] = booking_form_token()
    return render(
        request,
        "register/book.html",
        {"code": found, "form": form, "entry": CodeEntryForm()},
    )


def _earlier_booking(request: HttpRequest, request_hash: str) -> Booking | None:
    """The booking this very form made, when it is sent again with the same details."""
    try:
        token = signing.loads(request.POST.get("token", ""), salt=TOKEN_SALT, max_age=TOKEN_AGE)
    except signing.BadSignature:
        return None
    return Booking.objects.filter(idempotency_key=f"web:{token}", request_hash=request_hash).first()


def _to_confirmation(booking: Booking) -> HttpResponse:
    # The confirmation says a password link was emailed only when this booking made one
    # (a booking found again: when its account still waits for its password).
    made = getattr(booking, "account_created", None)
    if made is None:
        account = booking.participant.user
        made = account is not None and not account.has_usable_password()
    token = signing.dumps([booking.pk, made], salt=CONFIRMATION_SALT, compress=True)
    return redirect("register:booked", token=token)


def register_booked(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation, behind a signed link only the booking's browser was sent to."""
    try:
        value = signing.loads(token, salt=CONFIRMATION_SALT)
        # Links made before the flag was added hold the booking's id alone.
        booking_id, account_created = (value, False) if isinstance(value, int) else value
    except (signing.BadSignature, TypeError, ValueError):
        return render(request, "register/start.html", {"form": CodeEntryForm()}, status=404)
    booking = get_object_or_404(
        Booking.objects.select_related("contract", "participant__user", "price__product", "code"),
        pk=booking_id,
    )
    return render(
        request, "register/booked.html", {"booking": booking, "password_to_set": account_created}
    )


class SetPasswordView(auth_views.PasswordResetConfirmView):
    """The link in a new account's confirmation email: choose a password."""

    template_name = "register/set_password.html"
    success_url = reverse_lazy("register:set_password_done")
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"


def set_password_done(request: HttpRequest) -> HttpResponse:
    return render(request, "register/set_password_done.html")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its security token (an old tab, cookies off): say what to do."""
    return render(request, "register/csrf_failure.html", status=403)
