"""Emails that go after the change, through the outbox, retried until they went (issue 17,
item 5): an SMTP server that is down delays an email, never drops it nor fails the request that
asked for it."""

from django.core.mail import EmailMessage, EmailMultiAlternatives

from core.outbox import enqueue, kept

SEND_TASK = "core.tasks.send_email"


def as_data(message: EmailMessage) -> dict:
    """What the task rebuilds the message from (JSON: the outbox keeps it). Attachments are not
    carried: an email that has them is sent by its own task."""
    if message.attachments:
        raise ValueError("An email with attachments is not sent through send_later.")
    return {
        "subject": str(message.subject), "body": str(message.body), "from_email": message.from_email,
        "to": list(message.to), "cc": list(message.cc), "bcc": list(message.bcc), "reply_to": list(message.reply_to),
        "headers": dict(message.extra_headers), "content_subtype": message.content_subtype,
        "alternatives": [[str(content), mimetype] for content, mimetype in getattr(message, "alternatives", [])],
    }


def from_data(data: dict) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        data["subject"], data["body"], data.get("from_email"), data.get("to") or [], bcc=data.get("bcc") or [],
        cc=data.get("cc") or [], reply_to=data.get("reply_to") or [], headers=data.get("headers") or {},
    )
    message.content_subtype = data.get("content_subtype") or "plain"
    for content, mimetype in data.get("alternatives") or []:
        message.attach_alternative(content, mimetype)
    return message


def send_later(message: EmailMessage) -> None:
    """Send the message once the current transaction commits, retried while the mail server
    refuses it."""
    enqueue(SEND_TASK, as_data(message))


def send_now_or_later(message: EmailMessage) -> None:
    """For a message sent from a request that is not in a transaction of ours (allauth's): with
    the inline Celery (tests, `make run`) sent at once, as before; with a broker, kept in the
    outbox and sent by a worker, so that a mail server that is down never fails the request."""
    if not kept():
        message.send()
    else:
        send_later(message)


def send_mail_later(subject: str, body: str, recipients: list[str], from_email: str | None = None) -> None:
    """`django.core.mail.send_mail`, through `send_later`."""
    send_later(EmailMessage(str(subject), str(body), from_email, list(recipients)))
