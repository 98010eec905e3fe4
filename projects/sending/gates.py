"""Who may be messaged now (MSG-1, PRJ-2, DUN-2, PRJ-7, CMP-4): asked before a funnel runs and
again before each message goes, since a project or its owner may be stopped in between."""

from django.utils.translation import gettext_noop

from core.exceptions import RuleRefused
from projects.models import Project, Subscriber
from projects.services import takes_new_subscribers


def project_may_send(project: Project) -> bool:
    """Only an active project (not suspended for dunning, a complaint, a review or by staff; not
    locked, archived or deleted), cleared where its industry needs review, of an owner whom no
    restriction holds."""
    return project.may_send and takes_new_subscribers(project)


def may_message(project: Project, subscriber: Subscriber) -> bool:
    """…and only to a subscriber still subscribed (PRJ-3)."""
    return subscriber.status == Subscriber.Status.ACTIVE and project_may_send(project)


def check_may_send(project: Project) -> None:
    """A refusal the client can read, for what it asks to send now (a broadcast)."""
    if not project_may_send(project):
        raise RuleRefused(
            "project_may_not_send",
            gettext_noop("This project may not send now: it is not active, waits for review, or its owner's account is restricted."),
        )
