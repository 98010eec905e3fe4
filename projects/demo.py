"""Demo projects: Alice's shop bot with subscribers from every source and Bob helping out, a
second project waiting for staff review, and Bob's own bot."""

from django.utils import timezone

from accounts.models import Client
from projects import selectors, services
from projects.funnels import services as funnels
from projects.funnels.spec import BlockSpec, ButtonSpec, FunnelSpec
from projects.models import Block, Funnel, Project, ProjectMember, Subscriber

FIRST_NAMES = ["Ann", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lena"]


def _project(owner: Client, name: str, industry: str = "other") -> Project:
    return Project.objects.filter(owner=owner, name=name).first() or services.create_project(owner=owner, name=name, industry=industry)


def _fill(project: Project, count: int) -> None:
    if Subscriber.objects.filter(project=project).exists():
        return
    now = timezone.now()
    people = []
    for n in range(count):
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        telegram = n % 3 == 0
        people.append(
            Subscriber(
                project=project, name=f"{first} Demo{n}", source="telegram" if telegram else ("popup" if n % 3 == 1 else "import"),
                messenger="telegram" if telegram else "", messenger_user_id=str(700_000_000 + project.pk * 1000 + n) if telegram else "",
                email="" if telegram else f"{first.lower()}.demo{n}@example.org",
                consent_at=now, consent_source="Demo data", subscribed_at=now,
                status="unsubscribed" if n % 10 == 9 else "active", unsubscribed_at=now if n % 10 == 9 else None,
            )
        )
    Subscriber.objects.bulk_create(people)


def seed() -> list[str]:
    alice = Client.objects.get(email="alice@example.com")
    bob = Client.objects.get(email="bob@example.com")
    shop = _project(alice, "Alice's shop bot", "ecommerce")
    _project(alice, "Alice's vitamins", "supplements")  # an industry of ToU 21.6: waits for staff review
    _fill(shop, 120)
    if not ProjectMember.objects.filter(project=shop, client=bob).exists():
        services.add_member(
            granter=selectors.project_access(client=alice, project_id=shop.pk), email=bob.email,
            access={"subscribers": "view", "statistics": "view"}, actor=alice,
        )
    _fill(_project(bob, "Bob's course bot", "education"), 40)
    _funnel(shop)
    return ["Projects: Alice has two (one waiting for review, Bob takes part in the other), Bob one; Alice's shop has a funnel."]


def _funnel(project: Project) -> None:
    """A small welcome funnel: a question with two buttons, a tag, a delay and a condition."""
    if Funnel.objects.filter(project=project).exists():
        return
    blocks = (
        BlockSpec("hello", "message", text="Hi! Shall we send you our weekly deals?", buttons=(ButtonSpec("Yes, please", "yes"), ButtonSpec("No, thanks", "no"))),
        BlockSpec("yes", "action", action=Block.Action.ADD_TAG, tag="deals", next="thanks"),
        BlockSpec("thanks", "message", text="Great: every Monday, then. Here is 10% off your next order: WELCOME10", next="wait"),
        BlockSpec("wait", "delay", delay_seconds=24 * 3600, next="check"),
        BlockSpec("check", "condition", tag="deals", next="reminder", else_next="no"),
        BlockSpec("reminder", "message", text="Your WELCOME10 code is still waiting for you."),
        BlockSpec("no", "message", text="No problem. Send /start whenever you change your mind."),
    )
    funnels.create_funnel(project=project, actor=project.owner, spec=FunnelSpec(name="Welcome", start="hello", blocks=blocks))
