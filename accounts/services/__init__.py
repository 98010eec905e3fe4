"""Every write about clients, by what it keeps: registration, sign-in, API keys, the account's
state and restrictions, access recovery.

Each service runs in one transaction, writes its audit entry in it (CMP-5) and raises
`RuleRefused` or a field `ValidationError` before writing anything when it refuses.
"""

from accounts.services.api_keys import (
    API_KEY_PREFIX,
    api_key_for_secret,
    api_key_request_wait,
    create_api_key,
    note_api_key_used,
    revoke_api_key,
    set_api_key_limit,
    sign_in_key,
)
from accounts.services.notices import Draft, notify, notify_many, send_notice, send_notices_of, send_pending_notices
from accounts.services.preferences import NOT_A_LANGUAGE, is_language, language_of, set_language
from accounts.services.recovery import approve_access_recovery, refuse_access_recovery, request_access_recovery
from accounts.services.registration import (
    REGISTRATION_DOCUMENTS,
    mark_email_verified,
    register_client,
    registration_errors,
    send_email_verification,
)
from accounts.services.signin import (
    clear_failed_sign_ins,
    has_two_factor,
    issue_token,
    lockout_refusal,
    note_failed_sign_in,
    note_two_factor_change,
    sign_in_lockout_remaining,
    turn_off_two_factor,
    verify_second_factor,
)
from accounts.services.staff import note_staff_roles, staff_edit_client, staff_roles_of
from accounts.services.state import (
    block,
    block_many,
    close_account,
    delete_account,
    lift_billing,
    lift_expired_blocks,
    lift_many,
    lift_suspension,
    restrict_many,
    suspend,
    suspend_many,
    unblock,
)

__all__ = [
    "API_KEY_PREFIX",
    "NOT_A_LANGUAGE",
    "Draft",
    "REGISTRATION_DOCUMENTS",
    "api_key_for_secret",
    "api_key_request_wait",
    "approve_access_recovery",
    "block",
    "block_many",
    "clear_failed_sign_ins",
    "close_account",
    "create_api_key",
    "delete_account",
    "has_two_factor",
    "is_language",
    "issue_token",
    "language_of",
    "lift_billing",
    "lift_expired_blocks",
    "lift_many",
    "lift_suspension",
    "lockout_refusal",
    "mark_email_verified",
    "note_api_key_used",
    "notify_many",
    "set_language",
    "note_failed_sign_in",
    "note_staff_roles",
    "note_two_factor_change",
    "notify",
    "refuse_access_recovery",
    "register_client",
    "registration_errors",
    "request_access_recovery",
    "restrict_many",
    "revoke_api_key",
    "send_email_verification",
    "send_notice",
    "send_notices_of",
    "send_pending_notices",
    "set_api_key_limit",
    "sign_in_key",
    "sign_in_lockout_remaining",
    "staff_edit_client",
    "staff_roles_of",
    "suspend",
    "suspend_many",
    "turn_off_two_factor",
    "unblock",
    "verify_second_factor",
]
