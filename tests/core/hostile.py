"""Helpers of the hostile-input tests (issue 17, item 1): bad values, the answer a refusal gives,
and the whole database compared before and after it (tests.snapshot)."""

import contextlib
import json

from tests.snapshot import changed_tables, database_state

NUL = "Ann\x00Lee"
SURROGATE = "Ann\ud800Lee"
BAD_TEXT = {"nul": NUL, "surrogate": SURROGATE}
PAST_BIGINT = [2**63, 2**70, -(2**63) - 1]


@contextlib.contextmanager
def nothing_stored():
    """The block changes no row of any table (a key's last use and sessions aside)."""
    before = database_state()
    yield
    changed = changed_tables(before, database_state())
    assert changed == [], f"a refused request changed {changed}"


def as_json(body) -> str:
    """A body as a client sends it: lone surrogates as `\\ud800` escapes (valid JSON text)."""
    return json.dumps(body, ensure_ascii=True)


def post_json(api, path: str, body, method: str = "post", **extra):
    return getattr(api, method)(path, data=as_json(body), content_type="application/json", **extra)


def assert_refused(response, status: int, *words: str) -> dict:
    """The answer is `status`, JSON, and says what was wrong in words a person reads."""
    assert response.status_code == status, f"{response.status_code} {response.content[:500]!r}"
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    text = json.dumps(body)
    for word in words:
        assert word in text, f"{word!r} not in {body}"
    return body
