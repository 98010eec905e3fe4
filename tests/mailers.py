"""A mail server that can be down (issue 17, item 5): while `FlakyMailer.down`, every send raises
as smtplib does when the server is unreachable; otherwise messages land in `mail.outbox`."""

import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend


class FlakyMailer(EmailBackend):
    down = False
    refused = 0  # sends refused while down
    fail_after = None  # a number: that many more sends go, then the server is down

    @classmethod
    def reset(cls) -> None:
        cls.down, cls.refused, cls.fail_after = False, 0, None

    def send_messages(self, messages):
        if FlakyMailer.fail_after is not None:
            FlakyMailer.down, FlakyMailer.fail_after = FlakyMailer.fail_after <= 0, FlakyMailer.fail_after - 1
        if FlakyMailer.down:
            FlakyMailer.refused += 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed (the test's mail server is down)")
        return super().send_messages(messages)


FLAKY = {"default": {"BACKEND": "tests.mailers.FlakyMailer"}}


@pytest.fixture
def flaky_mail(settings):
    settings.MAILERS = FLAKY
    FlakyMailer.reset()
    mail.outbox.clear()
    yield FlakyMailer
    FlakyMailer.reset()
