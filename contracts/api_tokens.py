"""Organisation API tokens: made and revoked by Administrators, checked on every CRM call.

A key is "vdk_" and 43 characters of base64 (256 random bits). Only its SHA-256 is
stored, with its first characters to recognise it by; the key is shown once, when made.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from contracts.models import ApiToken, Organisation
from core import roles
from core.errors import DomainError

User = AbstractBaseUser | None

KEY_PREFIX = "vdk_"
VISIBLE = 12  # "vdk_" and the first 8 characters of the random part
# Writing last_used_at on every call would make each call of a busy integration a write.
LAST_USED_EVERY = timedelta(minutes=1)
MANAGE = "contracts.manage_api_tokens"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(
    *, actor: User, organisation: Organisation | None, name: str, scopes: list[str]
) -> tuple[ApiToken, str]:
    """Make a token for one organisation, or (organisation None) for all of them.

    Returns the token and its key: show the key now, it is not kept. A token for all
    organisations is an Administrator's to make, whatever permissions another role holds.
    """
    if actor is not None and not actor.has_perm(MANAGE):
        raise DomainError(
            "Making API tokens needs the “Can manage organisation API tokens” "
            "permission (role Administrator)."
        )
    if organisation is None and actor is not None and not roles.is_administrator(actor):
        raise DomainError("Only Administrators make a token for all organisations.")
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Name the token after what uses it, e.g. “Salesforce sync”."
    chosen = sorted(set(scopes or []))
    unknown = set(chosen) - set(ApiToken.Scope.values)
    if not chosen or unknown:
        errors["scopes"] = "Choose read, write or both."
    if errors:
        raise ValidationError(errors)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        organisation=organisation,
        name=name[:100],
        scopes=chosen,
        prefix=key[:VISIBLE],
        key_hash=key_hash(key),
        created_by=actor,
    )
    return token, key


def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke a token for good: the next call with it is refused (401)."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The live token with this key, its organisation loaded; None for an unknown or a
    revoked key. Notes when it was used, at most once a minute."""
    if not key.startswith(KEY_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("organisation")
        .filter(key_hash=key_hash(key), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
        # Conditional: of many calls at once, one writes.
        ApiToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY),
            pk=token.pk,
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
