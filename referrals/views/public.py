"""The public referral pages: signup (embeddable), confirmation, referral link, status page
(embeddable), instant signup links. No staff chrome; phone first."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core import throttle
from core.errors import DomainError
from core.forms import add_service_errors
from referrals import links, selectors, services
from referrals.forms import SignupForm
from referrals.models import ReferralProgram, Referrer

SIGNUP_SCOPE = "referral-signup"


def _embeddable(response: HttpResponse, program: ReferralProgram) -> HttpResponse:
    """Let the program's own origins frame the page, and no one else (CSP frame-ancestors)."""
    ancestors = " ".join(["'self'", *program.origins])
    response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    return response


def _referral_code(request: HttpRequest, program: ReferralProgram, form_value: str = "") -> str:
    if form_value:
        return form_value
    return request.get_signed_cookie(
        links.cookie_name(program.pk), default="", salt="referrals.visit"
    )


# A public form that may sit in a frame on a partner's site, where our CSRF cookie is a
# third-party cookie and not sent. It logs nobody in and acts for no session, and the
# email must still be confirmed: CSRF would protect nothing here.
@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, slug: str) -> HttpResponse:
    program = get_object_or_404(ReferralProgram, slug=slug)
    ref = request.GET.get("ref", "")
    form = SignupForm(
        request.POST or None, initial={"ref": ref, "nonce": secrets.token_urlsafe(16)}
    )
    closed = program.status != ReferralProgram.Status.ACTIVE
    status = 200
    if request.method == "POST" and not closed and form.is_valid():
        address = throttle.client_address(request)
        window = settings.REGISTER_FAILURE_WINDOW
        if throttle.take_attempt(SIGNUP_SCOPE, address, window=window) > (
            settings.REFERRAL_SIGNUP_RATE_LIMIT
        ):
            form.add_error(None, "Too many signups from your network. Please try again later.")
            status = 429
        else:
            nonce = form.cleaned_data["nonce"]
            try:
                person = services.Person.clean(
                    **{k: form.cleaned_data[k] for k in ("name", "email", "company")}
                )
                referrer = services.signup_replayed(nonce=nonce, email=person.email)
                if referrer is None:
                    referrer = services.referrer_signup(
                        program=program,
                        person=person,
                        address=address,
                        referral_code=_referral_code(request, program, form.cleaned_data["ref"]),
                    )
                    services.signup_remember(nonce=nonce, referrer=referrer)
            except services.AlreadyInProgram as exc:
                if services.referrer_links_resend(referrer=exc.referrer):
                    sent = "We have emailed the links to that address again."
                else:
                    sent = "We emailed the links to that address a few minutes ago."
                form.add_error("email", f"{exc.message} {sent}")
            except (ValidationError, DomainError) as exc:
                add_service_errors(form, exc)
            else:
                url = reverse("referrals_public:signed_up", args=[program.slug])
                return redirect(f"{url}?{urlencode({'email': referrer.email})}")
    response = render(
        request,
        "referrals/public/signup.html",
        {"program": program, "form": form, "closed": closed},
        status=status,
    )
    return _embeddable(response, program)


@xframe_options_exempt
def signed_up(request: HttpRequest, slug: str) -> HttpResponse:
    program = get_object_or_404(ReferralProgram, slug=slug)
    response = render(
        request,
        "referrals/public/signed_up.html",
        {"program": program, "email": request.GET.get("email", "")},
    )
    return _embeddable(response, program)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation link: a button confirms (a GET never does: mail scanners open links,
    and would confirm, count and reward on the owner's behalf)."""
    try:
        if request.method == "POST":
            referrer = services.referrer_confirm(token=token)
            return redirect(links.status_path(referrer))
        referrer = (
            Referrer.objects.select_related("program")
            .filter(pk=links.confirm_reader(token))
            .first()
        )
    except links.LinkInvalid as exc:
        return render(
            request, "referrals/public/link_invalid.html", {"message": exc.message}, status=400
        )
    if referrer is None:
        return render(
            request,
            "referrals/public/link_invalid.html",
            {"message": "This confirmation link is not valid."},
            status=400,
        )
    if referrer.status == Referrer.Status.ACTIVE:
        return redirect(links.status_path(referrer))
    return render(request, "referrals/public/confirm.html", {"referrer": referrer})


def visit(request: HttpRequest, code: str) -> HttpResponse:
    """A referral link: count the visit, remember the referrer, go to the landing page."""
    referrer = services.referrer_visit(code=code)
    if referrer is None:
        return render(request, "referrals/public/unknown_link.html", status=404)
    program = referrer.program
    if program.landing_url:
        parts = urlsplit(program.landing_url)
        query = "&".join(filter(None, [parts.query, urlencode({"ref": referrer.code})]))
        target = urlunsplit(parts._replace(query=query))
    else:
        target = (
            reverse("referrals_public:signup", args=[program.slug])
            + "?"
            + urlencode({"ref": referrer.code})
        )
    response = redirect(target)
    response.set_signed_cookie(
        links.cookie_name(program.pk),
        referrer.code,
        salt="referrals.visit",
        max_age=program.cookie_days * 86400,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


@xframe_options_exempt
def status(request: HttpRequest, token: str) -> HttpResponse:
    try:
        pk, code, key = links.status_reader(token)
    except links.LinkInvalid as exc:
        return render(
            request, "referrals/public/link_invalid.html", {"message": exc.message}, status=404
        )
    referrer = (
        Referrer.objects.select_related("program").filter(pk=pk, code=code, status_key=key).first()
    )
    if referrer is None:
        return render(
            request,
            "referrals/public/link_invalid.html",
            {
                "message": "This status link is not valid, or it was replaced by a new one. "
                "Use the link from your latest email."
            },
            status=404,
        )
    state = selectors.referrer_status(referrer=referrer, with_rewards=True)
    link = links.referral_link(referrer)
    response = render(
        request,
        "referrals/public/status.html",
        {
            "program": referrer.program,
            "referrer": referrer,
            "state": state,
            "link": link,
            "share": _share_links(referrer.program.name, link),
        },
    )
    return _embeddable(response, referrer.program)


def _share_links(program_name: str, link: str) -> list[tuple[str, str]]:
    text = f"Join {program_name} through my link: {link}"
    return [
        ("Email", "mailto:?" + urlencode({"subject": f"Join {program_name}", "body": text})),
        (
            "LinkedIn",
            "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": link}),
        ),
        ("X", "https://x.com/intent/post?" + urlencode({"text": text})),
        ("WhatsApp", "https://wa.me/?" + urlencode({"text": text})),
    ]


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """An instant signup link: one button (a GET never joins: mail scanners open links)."""
    try:
        data = links.join_reader(token)
    except links.LinkInvalid as exc:
        return render(
            request, "referrals/public/link_invalid.html", {"message": exc.message}, status=400
        )
    program = get_object_or_404(ReferralProgram, pk=data["program_id"])
    if request.method == "POST":
        try:
            referrer, _ = services.referrer_join(
                token=token, address=throttle.client_address(request)
            )
        except (DomainError, ValidationError) as exc:
            message = exc.message if isinstance(exc, DomainError) else "; ".join(exc.messages)
            return render(
                request, "referrals/public/link_invalid.html", {"message": message}, status=400
            )
        return redirect(links.status_path(referrer))
    return render(request, "referrals/public/join.html", {"program": program, "data": data})
