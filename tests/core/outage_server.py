"""The project under gunicorn for tests/core/test_outage_503.py, on the database and Redis its
environment names: a client, its API key and a signed-in session made first (written as JSON to
argv[2]), then served on 127.0.0.1:argv[1] by one worker. One Django start for both."""

import json
import os
import sys

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from gunicorn.app.base import BaseApplication  # noqa: E402

from tests.factories import key_for, make_client  # noqa: E402


class Server(BaseApplication):
    def __init__(self, application, options):
        self.application, self.options = application, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def main(port: str, secrets_path: str) -> None:
    application = get_wsgi_application()
    client = make_client(email="ops@example.com")
    browser = Client()
    browser.force_login(client)
    with open(secrets_path + ".tmp", "w") as secrets:
        json.dump({"key": key_for(client), "session": browser.cookies["sessionid"].value}, secrets)
    os.replace(secrets_path + ".tmp", secrets_path)
    connections.close_all()  # not shared with the forked worker
    Server(application, {"bind": f"127.0.0.1:{port}", "workers": 1, "timeout": 60, "accesslog": "-"}).run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
