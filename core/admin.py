"""Admin pieces shared by the apps."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import DomainError


class ServiceDeleteMixin:
    """Deleting from the admin goes through the app's service, which may refuse.

    The refusal is given before Django's confirmation page, which would otherwise list
    every protected row (a million codes included); bulk delete is off, since it would
    bypass the service.
    """

    def deletion_refusal(self, obj) -> str | None:
        """Why `obj` cannot be deleted, or None."""
        return None

    def delete_with_service(self, request, obj) -> None:
        raise TypeError(f"{type(self).__name__} must say which service deletes its objects")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        refusal = obj is not None and self.deletion_refusal(obj)
        if refusal:
            self.message_user(request, refusal, messages.ERROR)
            opts = self.model._meta
            return redirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            )
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj) -> None:
        try:
            self.delete_with_service(request, obj)
        except DomainError as exc:  # refused between the check and the delete
            self.message_user(request, exc.message, messages.ERROR)
