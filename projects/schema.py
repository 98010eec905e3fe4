"""The Telegram webhook in the OpenAPI schema (issue 17, item 2; API.md "Projects").

The webhook is a plain Django view (projects.views.telegram_webhook: the hot path, no DRF), so
drf-spectacular does not see it; this postprocessing hook adds its operation: the body a Bot API
`Update` (only the parts we read are described; Telegram's other fields and kinds pass), the
secret header, and its answers."""

from django.urls import reverse

from core.schema import ERROR_SCHEMA, EVERY_REQUEST, complete_errors

_ID = {"type": "integer", "format": "int64"}
_USER = {
    "type": "object",
    "properties": {"id": _ID, "is_bot": {"type": "boolean"}, "first_name": {"type": "string"}, "last_name": {"type": "string"},
                   "username": {"type": "string"}, "language_code": {"type": "string"}},
    "required": ["id", "is_bot", "first_name"],
}
_CHAT = {"type": "object", "properties": {"id": _ID, "type": {"type": "string"}}, "required": ["id", "type"]}
_MESSAGE = {
    "type": "object",
    "properties": {"message_id": {"type": "integer"}, "date": {"type": "integer"}, "chat": _CHAT, "from": _USER, "text": {"type": "string"}},
    "required": ["message_id", "date", "chat"],
}
_CHAT_MEMBER = {"type": "object", "properties": {"status": {"type": "string"}, "user": _USER}, "required": ["status", "user"]}
UPDATE = {
    "type": "object",
    "description": "A Telegram Bot API Update. `/start` subscribes the sender, `stop` or `/stop` unsubscribes, a button press "
                   "(`callback_query`) or a reply goes to the funnel; any other update is acknowledged and ignored.",
    "properties": {
        "update_id": {"type": "integer"},
        "message": _MESSAGE,
        "callback_query": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "from": _USER, "message": _MESSAGE, "chat_instance": {"type": "string"}, "data": {"type": "string"}},
            "required": ["id", "from", "chat_instance"],
        },
        "my_chat_member": {
            "type": "object",
            "properties": {"chat": _CHAT, "from": _USER, "date": {"type": "integer"}, "old_chat_member": _CHAT_MEMBER, "new_chat_member": _CHAT_MEMBER},
            "required": ["chat", "from", "date", "old_chat_member", "new_chat_member"],
        },
    },
    "required": ["update_id"],
}


def telegram_webhook(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: add `POST <telegram_webhook_path>` to the schema."""
    path = reverse("telegram-webhook", kwargs={"token": "TOKEN"}).replace("TOKEN", "{token}")
    schemas = result["components"].setdefault("schemas", {})
    schemas["TelegramUpdate"] = UPDATE
    schemas.setdefault("ApiError", ERROR_SCHEMA)  # (every API operation refers to it too)
    result["paths"][path] = {"post": {
        "operationId": "telegram_webhook",
        "summary": "Telegram's Bot API posts each Update here",
        "description": "Set by `PUT /api/v1/projects/{id}/bot/`: `setWebhook` with the project's `telegram_webhook_path` and "
                       "`telegram_secret`. Answers at once; a repeated `update_id` changes nothing.",
        "tags": ["webhooks"],
        "parameters": [
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The last part of the project's `telegram_webhook_path`."},
            {"name": "X-Telegram-Bot-Api-Secret-Token", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "The project's `telegram_secret`."},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TelegramUpdate"}}}},
        "security": [],
        "responses": {
            "200": {"description": "Accepted, with no body: ignored updates too, so that Telegram stops re-sending. An update refused "
                           "for its content (a NUL in a name, an id out of range) is acknowledged as `{code: refused, detail}`, nothing stored.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}},
                                "text/plain": {"schema": {"type": "string", "maxLength": 0}}}},
            "400": {"description": "Not JSON, or not an Update; nothing stored."},
            "403": {"description": "A wrong or missing secret token; nothing stored."},
            "404": {"description": "No project has this webhook path."},
        },
    }}
    complete_errors(result["paths"][path]["post"]["responses"], EVERY_REQUEST | {413})  # its body read as the API's (no 415: any type is read as JSON)
    return result
