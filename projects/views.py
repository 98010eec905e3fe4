import hmac
import json

from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from projects import selectors, telegram

SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"


@csrf_exempt
def telegram_webhook(request, token: str):
    """Telegram's Bot API posts each Update here (API.md). A plain view, not DRF: it is the hot
    path, it checks its own secret, and it calls nobody outside before answering.

    403 for a wrong or missing secret and 400 for a body that is not an Update, both storing
    nothing; 200 for everything else, ignored updates included, so that Telegram stops re-sending."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    project = selectors.project_for_webhook(token=token)
    if project is None:
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    secret = request.META.get(SECRET_HEADER, "")
    if not hmac.compare_digest(secret.encode(), project.telegram_secret.encode()):
        return JsonResponse({"code": "permission_denied", "detail": "Wrong or missing secret token."}, status=403)
    try:
        update = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"code": "parse_error", "detail": "The body is not JSON."}, status=400)
    if not isinstance(update, dict) or type(update.get("update_id")) is not int:
        return JsonResponse({"code": "invalid", "detail": "Not a Telegram Update: no integer update_id."}, status=400)
    telegram.handle_telegram_update(project=project, update=update)
    return HttpResponse(status=200)
