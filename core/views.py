from django.http import JsonResponse
from django.views.defaults import page_not_found


def not_found(request, exception=None):
    """404 for paths no view claims: JSON under /api/ (API.md's error shape), a page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    return page_not_found(request, exception)
