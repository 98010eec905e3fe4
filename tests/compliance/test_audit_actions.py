"""CMP-5: the audit log's actions are named constants, one module per app (`<app>/audit_actions.py`),
each written by some service, and no action is typed in place."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "billing", "compliance", "projects"]


def source(app: str) -> str:
    return "\n".join(p.read_text() for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts and p.name != "audit_actions.py")


@pytest.mark.parametrize("app", APPS)
def test_cmp5_every_named_action_is_written_somewhere(app):
    names = {name: value for name, value in vars(importlib.import_module(f"{app}.audit_actions").Audit).items() if name.isupper()}
    assert names
    code = source(app)
    unused = [name for name in names if not re.search(rf"\bAudit\.{name}\b", code)]
    assert unused == []
    values = [v for value in names.values() for v in (value.values() if isinstance(value, dict) else [value])]
    assert len(values) == len(set(values)) and all(re.fullmatch(r"[a-z_0-9]+\.[a-z_0-9]+", v) for v in values)


@pytest.mark.parametrize("app", APPS)
def test_cmp5_no_action_is_typed_in_place(app):
    typed = [m for m in re.findall(r'action=f?"([^"]*)"', source(app)) if m not in ("store_true", "store_false")]  # argparse's, not ours
    assert typed == []


def test_cmp5_an_action_named_here_is_the_one_in_the_log(db):
    from accounts import services
    from billing.audit_actions import Audit
    from compliance.models import AuditLog
    from tests.factories import make_client

    client = make_client(email="named@example.com")
    services.block(client=client, reason="abuse")
    assert AuditLog.objects.filter(action="account.blocked", client=client).exists()
    assert Audit.STAFF_CREDIT == "billing.staff_credit"
