"""Admin pieces shared by the apps."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import DomainError


class ServiceAdminMixin:
    """Admin saves and deletes go through the app's services, which may refuse.

    A refusal on save is shown as a message on the same page, with nothing written (the
    admin's view runs in one transaction). A refusal to delete is given before Django's
    confirmation page, which would otherwise list every protected row (a million codes
    included); bulk delete is off, since it would bypass the service.
    """

    def deletion_refusal(self, obj) -> str | None:
        """Why `obj` cannot be deleted, or None."""
        return None

    def delete_with_service(self, request: HttpRequest, obj) -> None:
        raise TypeError(f"{type(self).__name__} must say which service deletes its objects")

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changeform_view(
        self, request: HttpRequest, object_id=None, form_url="", extra_context=None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, DomainError) as exc:
            messages_ = exc.messages if isinstance(exc, ValidationError) else [exc.message]
            self.message_user(request, "Not saved: " + " ".join(messages_), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id, extra_context=None) -> HttpResponse:
        obj = self.get_object(request, object_id)
        refusal = obj is not None and self.deletion_refusal(obj)
        if not refusal:
            try:
                return super().delete_view(request, object_id, extra_context)
            except DomainError as exc:  # refused between the check and the delete
                refusal = exc.message
        self.message_user(request, refusal, messages.ERROR)
        opts = self.model._meta
        return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj) -> None:
        self.delete_with_service(request, obj)
