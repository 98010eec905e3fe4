"""Run a process (a Celery worker, or a statement) that stalls the moment it reaches a named
function, after writing a marker file, so that a test can kill it there with SIGKILL (no Python
exception, no cleanup) — mid-chunk, as the OOM killer or a deploy would (issue 17, item 5):

    python tests/billing/stalling.py billing.subscriptions.renew 1 /tmp/marker worker -A config worker --pool=solo ...
    python tests/billing/stalling.py billing.subscriptions.renew 3 /tmp/marker exec "from billing.night import run; ..."

The call number (1: the first call with a non-empty first argument) at which it stalls; 0 and
a target of "-": it never does (a healthy worker)."""

import importlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()


def stall_at(target: str, call: int, marker: str) -> None:
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    original, calls = getattr(module, name), []

    def stalling(*args, **kwargs):
        if args and args[0]:
            calls.append(1)
            if len(calls) == call:
                Path(marker).write_text(str(os.getpid()))
                time.sleep(600)  # until killed
        return original(*args, **kwargs)

    setattr(module, name, stalling)


if __name__ == "__main__":
    target, call, marker, mode, *rest = sys.argv[1:]
    if int(call):  # 0: no stall (a healthy worker)
        stall_at(target, int(call), marker)
    if mode == "worker":
        from config.celery import app

        app.worker_main(argv=rest)
    else:
        exec(rest[0], {})  # noqa: S102 (the test's own statement)
