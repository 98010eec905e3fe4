"""The site's URLs and two that fail, for the tests of what a 500 shows (issue 17, item 1)."""

from django.urls import path

from config.urls import handler404
from config.urls import urlpatterns as site


def boom(request):
    raise RuntimeError("kaboom: an unexpected error")


urlpatterns = [path("api/v1/boom/", boom), path("boom/", boom), *site]
__all__ = ["handler404", "urlpatterns"]
