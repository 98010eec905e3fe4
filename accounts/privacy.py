"""What accounts holds on a person, for the privacy export (CMP-2)."""


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
    }
