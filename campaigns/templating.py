"""Message templates: placeholders in braces, checked when saved, filled in per recipient.

Staff write a subject and body per contract with placeholders like `{first_name}` and
`{link}`. A placeholder that is not known is refused when the template is saved, by name
(as referral emails do); `{{` and `}}` write a literal brace. `{qr}` is an image of the
registration link: an email gets an HTML alternative with the image attached inline
(multipart/related, `cid:`), while its plain-text part shows the link; an SMS cannot carry
it. An SMS past 160 characters is sent as several and warned about, not refused.

A template is compiled once per send (`compile_template`), then rendered per recipient
with plain `str.format_map`, which is what keeps 100,000 personalised messages cheap.
"""

from __future__ import annotations

import io
import string
from dataclasses import dataclass
from datetime import date
from html import escape

import segno
from django.core.exceptions import ValidationError
from django.utils.formats import date_format

from core import placeholders

PLACEHOLDERS = {
    "first_name": "the participant's first name",
    "last_name": "the participant's last name",
    "code": "their invitation code",
    "link": "the registration link with their code filled in",
    "qr": "a QR code of that link, as an image (email only; the plain-text part shows the link)",
    "product": "the product the code is for",
    "price": "the code's price, with its currency",
    "valid_until": "the last day the code can be used",
    "contract": "the contract's name",
}
# Only in an email body: an image has no place in a subject line or a text message.
IMAGE_PLACEHOLDERS = {"qr"}
SMS_LENGTH = 160

SAMPLE = {
    "first_name": "Ann",
    "last_name": "Lee",
    "code": "ACME7K3QX9M2",
    "link": "https://vouchers.example.com/register/ACME7K3QX9M2/",
    "product": "Annual health check",
    "price": "80.00 EUR",
    "valid_until": "31 December 2026",
    "contract": "Acme staff 2026",
}

EMAIL = "email"
SMS = "sms"


# --- checking --------------------------------------------------------------------------


def unknown_placeholders(text: str) -> list[str]:
    """The {names} in `text` that are not placeholders; raises ValueError on broken braces."""
    return placeholders.unknown(text, PLACEHOLDERS)


def check(text: str, *, channel: str = EMAIL, subject: bool = False) -> None:
    """Refuse text with an unknown placeholder or a stray brace, naming each placeholder.

    `{qr}` is refused in a subject and in any SMS: it is an image.
    """
    try:
        unknown = unknown_placeholders(text)
    except ValueError as exc:
        raise ValidationError(
            "A brace is not closed: write {{ and }} for a literal brace.", code="braces"
        ) from exc
    if unknown:
        plural = "s" if len(set(unknown)) > 1 else ""
        raise ValidationError(
            f"Unknown placeholder{plural} {placeholders.braced(unknown)}. "
            f"Known: {placeholders.braced(PLACEHOLDERS)}.",
            code="unknown_placeholder",
        )
    images = [
        name for _, name, _, _ in string.Formatter().parse(text or "") if name in IMAGE_PLACEHOLDERS
    ]
    if images and (channel == SMS or subject):
        where = "a subject line" if subject else "a text message"
        raise ValidationError(
            f"{placeholders.braced(images)} is an image and cannot go in {where}: "
            "use {link} instead.",
            code="image_placeholder",
        )


def check_template(*, channel: str, subject: str, body: str) -> None:
    """Check a template's subject and body together; errors by field, each named."""
    errors = {}
    for field, text in (("subject", subject), ("body", body)):
        if field == "subject" and channel == SMS:
            continue  # a text message has no subject; whatever is typed there is not sent
        try:
            check(text, channel=channel, subject=field == "subject")
        except ValidationError as exc:
            errors[field] = exc.messages
    if errors:
        raise ValidationError(errors)


def warnings(*, channel: str, body: str, values: dict[str, str] | None = None) -> list[str]:
    """What staff should know before sending, without refusing: an SMS that would be split."""
    if channel != SMS:
        return []
    try:
        length = len(compile_template(channel=SMS, subject="", body=body).text(values or SAMPLE))
    except (ValueError, KeyError, IndexError):
        return []
    if length <= SMS_LENGTH:
        return []
    parts = -(-length // 153)  # concatenated SMS carry 153 characters each
    return [
        f"This text message is {length} characters with the preview's values: past "
        f"{SMS_LENGTH} it is sent as {parts} messages, and usually paid as {parts}."
    ]


# --- values ----------------------------------------------------------------------------


def price_text(amount, currency: str) -> str:
    return f"{amount} {currency}".strip()


def valid_until_text(day: date | None) -> str:
    return date_format(day, "j F Y") if day else "no end date"


def qr_png(link: str) -> bytes:
    """The QR code of a link as a PNG, the size a phone camera reads off a screen or print."""
    out = io.BytesIO()
    # make_qr: a link never fits a Micro QR, and not trying one first saves ~40 %.
    segno.make_qr(link, error="m").save(out, kind="png", scale=5, border=2)
    return out.getvalue()


def qr_svg(link: str) -> str:
    """The same QR code as inline SVG, for the staff preview."""
    return segno.make_qr(link, error="m").svg_inline(scale=4, border=2, omitsize=True)


# --- rendering -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """One recipient's message: subject (email), plain text, and for an email using {qr}
    an HTML alternative whose image is `qr_png` under Content-ID `qr_cid`."""

    subject: str
    text: str
    html: str = ""
    qr_png: bytes = b""
    qr_cid: str = ""


def _html_format(body: str) -> str:
    """The body as an HTML format string: its literal text escaped, line breaks kept,
    placeholders left for format_map (their values are escaped separately)."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(body):
        parts.append(escape(literal).replace("{", "{{").replace("}", "}}"))
        if name is not None:
            parts.append("{" + name + "}")
    return "".join(parts).replace("\n", "<br>\n")


@dataclass(frozen=True)
class CompiledTemplate:
    """A checked template ready to render many times."""

    channel: str
    subject_format: str
    text_format: str
    html_format: str  # "" unless the email body uses {qr}

    @property
    def uses_qr(self) -> bool:
        return bool(self.html_format)

    def text(self, values: dict[str, str]) -> str:
        filled = {**values, "qr": values["link"]}
        return self.text_format.format_map(filled)

    def render(self, values: dict[str, str], *, qr_cid: str = "", footer: str = "") -> Rendered:
        """Fill in one recipient's values (the placeholders' names, {qr} aside).

        `footer` (an unsubscribe line) is added to the end of an email's text and HTML.
        """
        text = self.text(values)
        if footer:
            text = f"{text.rstrip()}\n\n-- \n{footer}\n"
        subject = ""
        if self.channel == EMAIL:
            # A subject is one line, whatever a name holds.
            subject = " ".join(self.subject_format.format_map(values).split())
        if not self.html_format:
            return Rendered(subject=subject, text=text)
        cid = qr_cid or "qr@voucherdesk"
        link = values["link"]
        escaped = {name: escape(str(value)) for name, value in values.items()}
        escaped["link"] = f'<a href="{escape(link)}">{escape(link)}</a>'
        escaped["qr"] = (
            f'<img src="cid:{escape(cid)}" alt="QR code of your registration link" '
            'width="200" height="200">'
        )
        html = self.html_format.format_map(escaped)
        if footer:
            html += f'<hr><p style="color:#5d6b7a;font-size:small">{escape(footer)}</p>'
        page = f'<!doctype html><html><body style="font-family:sans-serif">{html}</body></html>'
        return Rendered(subject=subject, text=text, html=page, qr_png=qr_png(link), qr_cid=cid)


def compile_template(*, channel: str, subject: str, body: str) -> CompiledTemplate:
    """Check and prepare a template; raises ValidationError like `check_template`."""
    check_template(channel=channel, subject=subject, body=body)
    uses_qr = channel == EMAIL and "qr" in {
        name for _, name, _, _ in string.Formatter().parse(body)
    }
    return CompiledTemplate(
        channel=channel,
        subject_format=subject if channel == EMAIL else "",
        text_format=body,
        html_format=_html_format(body) if uses_qr else "",
    )


def render(template, values: dict[str, str], **options) -> Rendered:
    """Render a MessageTemplate (or anything with channel, subject and body) once."""
    compiled = compile_template(
        channel=template.channel, subject=template.subject, body=template.body
    )
    return compiled.render(values, **options)


def preview_html(compiled: CompiledTemplate, values: dict[str, str]) -> str:
    """The body as the staff preview shows it: escaped text, line breaks, and for {qr} the
    QR code itself (inline SVG) where the email's image goes."""
    link = values["link"]
    escaped = {name: escape(str(value)) for name, value in values.items()}
    escaped["link"] = escape(link)
    escaped["qr"] = f'<span class="qr">{qr_svg(link)}</span>' if compiled.uses_qr else ""
    html_format = compiled.html_format or _html_format(compiled.text_format)
    # The image is a block already: the line break after {qr} would add an empty line.
    return html_format.replace("{qr}<br>", "{qr}").format_map(escaped)
