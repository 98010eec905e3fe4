"""What accounts holds on a person, for the privacy export (CMP-2)."""

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from accounts.models import AccessRecoveryRequest, ApiKey, Client, Notice
from accounts.services import close_account


def export(client) -> dict:
    return {
        "account": {
            "id": client.pk, "email": client.email, "name": client.name, "status": client.status, "tariff": client.tariff,
            "date_joined": client.date_joined.isoformat(), "email_verified_at": client.email_verified_at.isoformat() if client.email_verified_at else None,
            "age_confirmed_at": client.age_confirmed_at.isoformat() if client.age_confirmed_at else None,
        },
        "api_keys": [{"name": k.name, "prefix": k.prefix, "created_at": k.created_at.isoformat(), "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
                     for k in client.api_keys.all()],
        "state_changes": [{"from": s.from_status, "to": s.to_status, "reason": s.reason, "at": s.created_at.isoformat()} for s in client.state_changes.all()],
        "notices": [{"kind": n.kind, "subject": n.subject, "body": n.body, "at": n.created_at.isoformat(), "emailed_at": n.emailed_at.isoformat() if n.emailed_at else None}
                    for n in client.notices.all()],
    }


def erase(client, person) -> None:
    """The account anonymised (CMP-2, DEA-5): it can no longer sign in, and its address is free to
    register again. Its state history stays (who changed what, without the person's values)."""
    # Closed first with its history, as a deletion by the client is (an erasure staff grant too).
    close_account(client=client, actor=None, note="Closed for the erasure of its data (CMP-2).")
    erased_email = f"erased-{client.pk}@erased.invalid"
    Client.objects.filter(pk=client.pk).update(
        email=erased_email, name="Erased client", password="!erased", is_active=False, status=Client.Status.DELETED,
        block_reason="", blocked_until=None,
    )
    EmailAddress.objects.filter(user_id=client.pk).delete()
    # What it was told goes too; the deletion's own notice stays until it is mailed (then its address is blanked).
    Notice.objects.filter(client_id=client.pk, emailed_at__isnull=False).delete()
    SocialAccount.objects.filter(user_id=client.pk).delete()
    Authenticator.objects.filter(user_id=client.pk).delete()
    ApiKey.objects.filter(client_id=client.pk).update(name="erased", revoked_at=timezone.now())
    AccessRecoveryRequest.objects.filter(account_email__iexact=person.email).update(account_email=erased_email, contact_email=erased_email, proof="(erased)")
