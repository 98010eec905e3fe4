"""The whole database as one value, to prove that a refused request changed nothing."""

import hashlib

from django.apps import apps

# Written by reading, not by the request's action: the key's last use, the session's expiry.
READ_MARKS = {("accounts", "apikey"): {"last_used_at"}}
SKIPPED = {("sessions", "session")}


def database_state() -> dict[str, str]:
    """Per table, a digest of every row's values in key order."""
    state = {}
    for model in apps.get_models():
        meta = model._meta
        key = (meta.app_label, meta.model_name)
        if not meta.managed or meta.proxy or key in SKIPPED:
            continue
        fields = [f.attname for f in meta.concrete_fields if f.attname not in READ_MARKS.get(key, set())]
        digest = hashlib.sha256()
        for row in model._base_manager.order_by("pk").values_list(*fields):
            digest.update(repr(row).encode())
        state[meta.label] = digest.hexdigest()
    return state


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(label for label in after if before.get(label) != after[label])
