"""Access checks for staff pages: signed in, staff, and holding the named permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
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
