"""How the CRM sync API knows its caller: an organisation API token, and its scopes.

Only the CRM endpoints take these tokens (`Authorization: Bearer <key>`); the rest of
the API keeps staff users' tokens. A token is no Django user: request.user stays
anonymous (so no history row names a made-up user) and request.auth is the ApiToken.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from contracts.api_tokens import api_token_authenticate
from contracts.models import ApiToken, Organisation
from core.throttle import CountingRateThrottle

INVALID = "Unknown or revoked API token."


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`: an unknown or revoked key is refused with 401."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the key as: Authorization: Bearer <key>.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID) from None
        token = api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed(INVALID)
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        # Makes a missing or refused token a 401 (with this challenge), not a 403.
        return f'{self.keyword} realm="api"'


class HasTokenScope(BasePermission):
    """The view's `scope` must be one of the token's: else 403, naming the scope."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False  # not authenticated: DRF answers 401
        if not token.allows(view.scope):
            raise exceptions.PermissionDenied(
                f"This API token does not have the “{view.scope}” scope, which this endpoint "
                f"needs (it has: {', '.join(token.scopes) or 'none'}). An Administrator can "
                "make a token with it."
            )
        return True


class ApiTokenRateThrottle(CountingRateThrottle):
    """The view's rate (CRM_API_RATE) per API token: request.user is anonymous for every
    token, and counting by address would lump integrations behind one NAT together."""

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        token = request.auth
        if not isinstance(token, ApiToken):
            return None  # refused before the throttle is asked
        return self.cache_format % {"scope": self.scope, "ident": f"token-{token.pk}"}


class CrmApiView(APIView):
    """One CRM sync endpoint: an organisation API token with the view's scope, limited to
    CRM_API_RATE requests per token (429 with Retry-After over it)."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [HasTokenScope]
    throttle_classes = [ApiTokenRateThrottle]
    throttle_scope = "crm"
    scope: str = ApiToken.Scope.READ

    @staticmethod
    def token(request: Request) -> ApiToken:
        return request.auth

    @classmethod
    def within(cls, request: Request) -> Organisation | None:
        """The organisation the token is limited to; None for a token for all of them."""
        return request.auth.organisation

    @classmethod
    def reason(cls, request: Request) -> str:
        """The change reason kept in the history of what the call writes."""
        token = request.auth
        return f"CRM sync: API token {token.name} ({token.prefix}…)"[:100]


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "organisationApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organisation API token (Administration → API tokens), with "
            "the read scope for the change feeds and the write scope for the upserts.",
        }
