"""Access checks for staff pages: signed in, staff, and holding the named permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.exceptions import PermissionDenied


def staff_permission_required(*perms: str) -> Callable:
    """Staff views: anonymous users go to the login page, others need every permission."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.is_active or not user.is_staff or not user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.required_permissions = perms
        return wrapper

    return decorator


PERMISSION_CACHE_SECONDS = 60


def has_perm_cached(user, perm: str) -> bool:
    """`user.has_perm(perm)`, remembered for a minute in the shared cache.

    For API endpoints called hundreds of times a second by one integration: reading the
    user's and their groups' permissions costs two queries a request. A role taken away
    reaches these endpoints within PERMISSION_CACHE_SECONDS.
    """
    if not user.is_authenticated:
        return False
    key = f"perm:{user.pk}:{perm}"
    allowed = cache.get(key)
    if allowed is None:
        allowed = user.is_active and user.has_perm(perm)
        cache.set(key, allowed, PERMISSION_CACHE_SECONDS)
    return allowed
