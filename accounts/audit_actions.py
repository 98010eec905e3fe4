"""The audit log's actions written by accounts (CMP-5): named here once, written by its services."""


class Audit:
    TWO_FACTOR_DISABLED = "account.2fa_disabled"
    TWO_FACTOR_ENABLED = "account.2fa_enabled"
    TWO_FACTOR_REMOVED = "account.2fa_removed"
    ACCESS_RECOVERY_APPROVED = "access_recovery.approved"
    ACCESS_RECOVERY_REFUSED = "access_recovery.refused"
    ACCESS_RECOVERY_REQUESTED = "access_recovery.requested"
    API_KEY_CREATED = "api_key.created"
    API_KEY_LOCKED = "api_key.locked"
    API_KEY_REVOKED = "api_key.revoked"
    EMAIL_CHANGED = "account.email_changed"
    EMAIL_VERIFIED = "account.email_verified"
    REGISTERED = "account.registered"
    RESTRICTED = "account.restricted"
    RESTRICTION_CHANGED = "account.restriction_changed"
    RESTRICTION_LIFTED = "account.restriction_lifted"
    SIGN_IN_LOCKED = "account.sign_in_locked"
    ACCOUNT_STATE = {"active": "account.reactivated", "suspended": "account.suspended", "blocked": "account.blocked", "deleted": "account.deleted"}
