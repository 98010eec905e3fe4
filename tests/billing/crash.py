"""Run one statement in a fresh process and kill it with SIGKILL (no Python exception, no
cleanup) the moment it reaches a named function — as a worker killed by the OOM killer or a
deploy would be. Used by tests/billing/test_payments_reliability.py:

    python tests/billing/crash.py billing.payments.book_many nonempty "from billing.night import run_nightly; ..."

`nonempty`: only when its first argument is not empty; `always`: at the first call; `never`: run
the statement whole."""

import importlib
import os
import signal
import sys

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from config.celery import app  # noqa: E402

app.conf.task_always_eager = True  # the emails of a night inline, as in the suite


def main(target: str, when: str, statement: str) -> None:
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    original = getattr(module, name)

    def killed(*args, **kwargs):
        if when == "always" or (when == "nonempty" and args and args[0]):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    if when != "never":
        setattr(module, name, killed)
    exec(statement, {})  # noqa: S102 (the tests' own statement)


if __name__ == "__main__":
    main(*sys.argv[1:4])
