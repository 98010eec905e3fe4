"""The audit log's actions written by compliance (CMP-5): named here once, written by its services."""


class Audit:
    ADMIN_ADDED = "admin.added"
    ADMIN_CHANGED = "admin.changed"
    ADMIN_DELETED = "admin.deleted"
    COMPLAINT_RECEIVED = "complaint.received"
    COMPLAINT_SENDING_SUSPENDED = "complaint.sending_suspended"
    CONSENT_MARKETING_GIVEN = "consent.marketing_given"
    CONSENT_MARKETING_WITHDRAWN = "consent.marketing_withdrawn"
    INCIDENT_CHANGED = "incident.changed"
    INCIDENT_NOTIFIED = "incident.notified"
    INCIDENT_RECORDED = "incident.recorded"
    LEGAL_ACCEPTED = "legal.accepted"
    LEGAL_PUBLISHED = "legal.published"
    PRIVACY_ERASED = "privacy.erased"
    PRIVACY_EXPORTED = "privacy.exported"
    PRIVACY_REQUEST_EXTENDED = "privacy.request_extended"
    PRIVACY_REQUEST_RECEIVED = "privacy.request_received"
    SUBJECT_ERASED = "privacy.subject_erased"
    RETENTION_RUN = "retention.run"
    COMPLAINT_DECIDED = {"upheld": "complaint.upheld", "rejected": "complaint.rejected"}
    PRIVACY_REQUEST_DECIDED = {"fulfilled": "privacy.request_fulfilled", "refused": "privacy.request_refused"}
