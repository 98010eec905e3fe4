"""What staff change on a client's account in the admin (CMP-5): each change through here, with
the values before and after in the audit log."""

from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.audit_actions import Audit
from accounts.models import Client, normalize_email
from compliance.services import record


@transaction.atomic
def staff_edit_client(*, client: Client, actor: Client, email: str, name: str, is_staff: bool, is_superuser: bool) -> Client:
    """Staff change a client's email (verified again before PRO, ACC-1), its name, or its staff
    access. Each change is audited with its values before and after; the same values change nothing."""
    current = Client.objects.select_for_update().get(pk=client.pk)
    email = normalize_email(email)
    if email != current.email:
        if Client.objects.filter(email=email).exclude(pk=current.pk).exists():
            raise ValidationError({"email": ["Another account has this email."]})
        record(action=Audit.EMAIL_CHANGED, actor=actor, target=current, client=current, details={"from": current.email, "to": email, "by": "staff"})
        current.email, current.email_verified_at = email, None
        EmailAddress.objects.filter(user=current).delete()
        EmailAddress.objects.create(user=current, email=email, primary=True, verified=False)
    if (name or "").strip() and name.strip() != current.name:
        record(action=Audit.NAME_CHANGED, actor=actor, target=current, client=current, details={"from": current.name, "to": name.strip()})
        current.name = name.strip()
    access = {"is_staff": (current.is_staff, is_staff), "is_superuser": (current.is_superuser, is_superuser)}
    if any(before != after for before, after in access.values()):
        record(action=Audit.STAFF_ACCESS_CHANGED, actor=actor, target=current, client=current,
               details={field: {"from": before, "to": after} for field, (before, after) in access.items()})
        current.is_staff, current.is_superuser = is_staff, is_superuser
    current.save(update_fields=["email", "email_verified_at", "name", "is_staff", "is_superuser"])
    return current


def note_staff_roles(*, client: Client, actor: Client, before: tuple[set[str], set[str]]) -> None:
    """After the admin saved a client's groups and permissions: audit what moved (CMP-5)."""
    after = staff_roles_of(client)
    if after != before:
        record(action=Audit.STAFF_ROLES_CHANGED, actor=actor, target=client, client=client, details={
            "groups_added": sorted(after[0] - before[0]), "groups_removed": sorted(before[0] - after[0]),
            "permissions_added": sorted(after[1] - before[1]), "permissions_removed": sorted(before[1] - after[1]),
        })


def staff_roles_of(client: Client) -> tuple[set[str], set[str]]:
    return (set(client.groups.values_list("name", flat=True)),
            {f"{app}.{codename}" for app, codename in client.user_permissions.values_list("content_type__app_label", "codename")})
