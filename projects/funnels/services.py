"""Every write to funnels (PRJ-6): create, replace and delete, each checked whole by `spec`
before anything is stored, so that a refused funnel leaves the stored one as it was."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Client
from compliance.services import record
from core.exceptions import RuleRefused
from projects.audit_actions import Audit
from projects.funnels.spec import BlockSpec, ButtonSpec, FunnelSpec, check_funnel
from projects.models import Block, Funnel, Project
from projects.services import check_project_writable

MAX_FUNNELS = 50  # per project


def _block_rows(funnel: Funnel, spec: FunnelSpec) -> list[Block]:
    return [
        Block(
            funnel=funnel, key=b.key, kind=b.kind, position=position, text=b.text,
            buttons=[{"text": button.text, "next": button.next} for button in b.buttons], next=b.next, else_next=b.else_next,
            delay_seconds=b.delay_seconds, action=b.action, field=b.field, value=b.value, tag=b.tag,
        )
        for position, b in enumerate(spec.blocks)
    ]


def spec_of(funnel: Funnel) -> FunnelSpec:
    """A stored funnel as a spec (what the API answers and the audit log keeps)."""
    return FunnelSpec(name=funnel.name, start=funnel.start, blocks=tuple(block_spec(b) for b in funnel.blocks.all()))


def block_spec(block: Block) -> BlockSpec:
    return BlockSpec(
        key=block.key, kind=block.kind, text=block.text, buttons=tuple(ButtonSpec(b["text"], b["next"]) for b in block.buttons),
        next=block.next, else_next=block.else_next, delay_seconds=block.delay_seconds, action=block.action, field=block.field,
        value=block.value, tag=block.tag,
    )


def as_dict(spec: FunnelSpec) -> dict:
    return {
        "name": spec.name, "start": spec.start,
        "blocks": [
            {"key": b.key, "kind": b.kind, "text": b.text, "buttons": [{"text": x.text, "next": x.next} for x in b.buttons],
             "next": b.next, "else_next": b.else_next, "delay_seconds": b.delay_seconds, "action": b.action, "field": b.field,
             "value": b.value, "tag": b.tag}
            for b in spec.blocks
        ],
    }


def spec_from_dict(data: dict) -> FunnelSpec:
    """The inverse of `as_dict` (the audit log's copy, to restore a funnel)."""
    return FunnelSpec(
        name=data["name"], start=data["start"],
        blocks=tuple(
            BlockSpec(**{**b, "buttons": tuple(ButtonSpec(x["text"], x["next"]) for x in b.get("buttons", ()))}) for b in data["blocks"]
        ),
    )


@transaction.atomic
def create_funnel(*, project: Project, actor: Client, spec: FunnelSpec) -> Funnel:
    """A new funnel (PRJ-6), refused whole (400 `invalid_funnel`) when invalid; at most 50 a project."""
    check_project_writable(project=project, actor=actor)
    check_funnel(spec)
    Project.objects.select_for_update().filter(pk=project.pk).first()  # counts and writes one at a time per project
    if Funnel.objects.filter(project=project).count() >= MAX_FUNNELS:
        raise RuleRefused("funnel_limit", gettext_noop("A project has at most %(limit)s funnels."), params={"limit": MAX_FUNNELS})
    funnel = Funnel.objects.create(project=project, name=spec.name, start=spec.start)
    Block.objects.bulk_create(_block_rows(funnel, spec))
    record(action=Audit.FUNNEL_CREATED, actor=actor, target=funnel, client=project.owner, details={"funnel": as_dict(spec)})
    return funnel


@transaction.atomic
def replace_funnel(*, funnel: Funnel, actor: Client, spec: FunnelSpec, action: str = Audit.FUNNEL_UPDATED, by_staff: bool = False) -> Funnel:
    """Replace a funnel's name, start and blocks at once (PUT). Invalid → refused, the stored
    funnel unchanged. Subscribers standing on a block that is gone end their run there.
    `by_staff`: staff in the console (restoring what the loop guard deleted, PRJ-6), whom the
    owner's block does not hold back; a client's request never passes it."""
    if not by_staff:
        check_project_writable(project=funnel.project, actor=actor)
    check_funnel(spec)
    funnel = Funnel.objects.select_for_update().select_related("project__owner").get(pk=funnel.pk)
    before = as_dict(spec_of(funnel))
    funnel.blocks.all().delete()
    Block.objects.bulk_create(_block_rows(funnel, spec))
    funnel.name, funnel.start, funnel.updated_at = spec.name, spec.start, timezone.now()
    funnel.save(update_fields=["name", "start", "updated_at"])
    record(action=action, actor=actor, target=funnel, client=funnel.project.owner, details={"from": before, "to": as_dict(spec)})
    return funnel


@transaction.atomic
def delete_funnel(*, funnel: Funnel, actor: Client) -> None:
    """Delete a funnel; the audit log keeps what it was."""
    check_project_writable(project=funnel.project, actor=actor)
    funnel = Funnel.objects.select_for_update().select_related("project__owner").get(pk=funnel.pk)
    record(action=Audit.FUNNEL_DELETED, actor=actor, target=funnel, client=funnel.project.owner, details={"funnel": as_dict(spec_of(funnel))})
    funnel.delete()
