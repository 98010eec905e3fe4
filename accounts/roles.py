"""The staff roles (issue 16): which permissions each staff group holds, in one place.

A staff member is given one or more of these groups on their account's page; the superuser flag
is not a role and stays apart (only a superuser makes superusers or edits groups). The data
migration accounts/0011_staff_roles sets each group to exactly its list below, from a copy of this
mapping (tests/accounts/test_staff_roles.py checks that the copy and this module agree): a later
change of a role is a change here, a new data migration with its copy, and that test.

support
    Answers clients. Reads what a client asks about: the account with its state history,
    restrictions, notices, API keys and access recovery requests; projects with their
    participants, subscribers, address books, funnels, broadcasts and messages (a bot's row shows
    no token, to anyone); the tariff, wallet and ledger, invoices and payments; and the audit log
    (CMP-5). Acts where a client's problem needs a hand: blocks and unblocks a client (ACC-3),
    turns off two-factor authentication on request (ACC-2), revokes an API key, decides access
    recovery requests (ACC-4), restores a funnel the loop guard stopped (PRJ-6) and cancels a
    broadcast a client asks to stop (MSG-1), as projects/0008 granted. Does not move money
    (refund, credit: WAL-3), change prices or policy (TAR-4), run the night, decide period
    changes (PER-5), handle privacy requests (CMP-2) or review industries (PRJ-7).

billing
    Money. Reads every billing table (prices and their history, wallets and ledger, cards without
    their tokens, subscriptions, invoices, payment attempts, idempotency records, sandbox charges,
    period changes, disputes, free-account flags, nights and their steps) and the clients, their
    state history and restrictions, projects and the audit log around them. Acts on money: refunds
    a card payment and credits a wallet (WAL-3), reconciles payments, approves or refuses a shorter
    period (PER-5), records and closes disputes, makes a new version of the prices and
    policy (TAR-4), marks free-account flags as looked at and runs the night (or its dry run).

compliance
    The law's side. Handles privacy requests to the end, fulfilment included (CMP-2), complaints
    and their project suspension, security incidents with their 72-hour notice (CMP-6); writes new
    legal documents; reads consents (marketing, cookies), legal acceptances and notices, the audit
    log and its seals read-only (CMP-5) and the disputes that hold an erasure. Reviews a project's
    industry (PRJ-7) and suspends or lifts a staff suspension of a project; reads clients, projects,
    participants, subscribers (and unsubscribes them), address books and contacts, and, as
    projects/0008 granted, funnels, broadcasts and the messages sent (a spam complaint needs them),
    cancelling a broadcast.

admin
    Everything staff may do: every permission of the three roles above, plus viewing and changing
    every model of the four apps (what a model's admin allows of it: most of them are read-only
    pages), and adding public holidays (the business-day deadlines count them). Three are kept
    out. Nobody edits the audit log or its seals (CMP-5), so no change_auditlog / change_auditseal.
    And no accounts.change_client: the client's change form carries the superuser tick box, the
    groups and the permissions, so that permission would let an admin make anyone (themselves
    included) a superuser; the superuser stays separate.
"""

# --- support --------------------------------------------------------------------------------------

SUPPORT = [
    # a client's account and what the client asks about it
    "accounts.view_client", "accounts.view_accountstatechange", "accounts.view_restriction", "accounts.view_notice",
    "accounts.view_apikey", "accounts.view_accessrecoveryrequest",
    "accounts.block_client", "accounts.reset_two_factor", "accounts.change_apikey",
    "accounts.change_accessrecoveryrequest", "accounts.decide_accessrecoveryrequest",
    # projects and what they send (projects/0002, projects/0008)
    "projects.view_project", "projects.view_projectrestriction", "projects.view_projectmember", "projects.view_subscriber",
    "projects.view_addressbook", "projects.view_funnel", "projects.view_block", "projects.view_funnelstep",
    "projects.view_broadcast", "projects.view_outboundmessage", "projects.view_projectbot",
    "projects.change_funnel", "projects.change_broadcast",
    # money, read only
    "billing.view_subscription", "billing.view_wallet", "billing.view_ledgerentry", "billing.view_invoice",
    "billing.view_invoiceline", "billing.view_paymentattempt", "billing.view_freeaccountflag",
    # the audit trail
    "compliance.view_auditlog",
]

# --- billing --------------------------------------------------------------------------------------

BILLING_MODELS = [
    "policysettings", "wallet", "card", "subscription", "invoice", "invoiceline", "invoicesequence", "paymentattempt",
    "idempotencyrecord", "sandboxcharge", "ledgerentry", "periodchangerequest", "dispute", "freeaccountflag", "nightlyrun",
    "nightlystep", "clientnight",
]

BILLING = [
    "accounts.view_client", "accounts.view_accountstatechange", "accounts.view_restriction",
    "projects.view_project",
    "compliance.view_auditlog",
    *(f"billing.view_{model}" for model in BILLING_MODELS),
    "billing.refund_payment", "billing.credit_wallet", "billing.approve_period_change", "billing.run_night",
    "billing.add_policysettings", "billing.change_policysettings",
    "billing.change_wallet", "billing.change_paymentattempt", "billing.change_periodchangerequest",
    "billing.add_dispute", "billing.change_dispute", "billing.change_freeaccountflag",
]

# --- compliance -----------------------------------------------------------------------------------

COMPLIANCE = [
    "accounts.view_client", "accounts.view_accountstatechange", "accounts.view_restriction", "accounts.view_notice",
    # privacy requests (CMP-2), complaints, incidents (CMP-6)
    "compliance.view_privacyrequest", "compliance.change_privacyrequest", "compliance.fulfil_privacy_request",
    "compliance.view_privacyexport",
    "compliance.view_complaint", "compliance.change_complaint",
    "compliance.view_incident", "compliance.add_incident", "compliance.change_incident",
    # legal documents, consents, the audit log read only (CMP-5)
    "compliance.view_legaldocument", "compliance.add_legaldocument", "compliance.change_legaldocument",
    "compliance.view_legalacceptance", "compliance.view_legalnotice",
    "compliance.view_marketingconsent", "compliance.view_cookieconsent",
    "compliance.view_auditlog", "compliance.view_auditseal", "compliance.view_holiday",
    "billing.view_dispute",
    # projects: review (PRJ-7), suspension, subscribers (projects/0002)
    "projects.view_project", "projects.view_projectrestriction", "projects.view_projectmember",
    "projects.review_project", "projects.suspend_project",
    "projects.view_subscriber", "projects.change_subscriber", "projects.view_addressbook", "projects.view_contact",
    # what projects send (projects/0008)
    "projects.view_funnel", "projects.view_block", "projects.view_funnelstep", "projects.view_broadcast",
    "projects.view_outboundmessage", "projects.view_projectbot", "projects.change_broadcast",
]

# --- admin ----------------------------------------------------------------------------------------

MODELS = {
    "accounts": ["client", "accountstatechange", "restriction", "apikey", "accessrecoveryrequest", "notice"],
    "billing": BILLING_MODELS,
    "compliance": ["auditlog", "auditseal", "legaldocument", "legalacceptance", "legalnotice", "holiday", "complaint",
                   "privacyrequest", "privacyexport", "marketingconsent", "cookieconsent", "incident"],
    "projects": ["project", "projectrestriction", "projectmember", "subscriber", "telegramupdate", "addressbook", "contact",
                 "funnel", "block", "subscribertag", "funnelstate", "funnelstep", "projectbot", "broadcast", "outboundmessage"],
}
KEPT_FROM_ADMIN = {"compliance.change_auditlog", "compliance.change_auditseal", "accounts.change_client"}

ADMIN = sorted(
    {*SUPPORT, *BILLING, *COMPLIANCE, "compliance.add_holiday",
     *(f"{app}.{verb}_{model}" for app, models in MODELS.items() for model in models for verb in ("view", "change"))}
    - KEPT_FROM_ADMIN
)

ROLES: dict[str, list[str]] = {
    "support": sorted(SUPPORT),
    "billing": sorted(BILLING),
    "compliance": sorted(COMPLIANCE),
    "admin": ADMIN,
}
