# Placeholder while these pages are written: every name is a view answering 501.
from django.http import HttpResponse


def __getattr__(name):
    return lambda request, *args, **kwargs: HttpResponse("Not yet", status=501)
