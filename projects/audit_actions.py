"""The audit log's actions written by projects (CMP-5): named here once, written by its services."""


class Audit:
    ADDRESS_BOOK_CREATED = "address_book.created"
    ADDRESS_BOOK_IMPORTED = "address_book.imported"
    COMPLAINT_LIFTED = "project.complaint_lifted"
    CREATED = "project.created"
    DELETED = "project.deleted"
    MEMBER_ADDED = "project.member_added"
    MEMBER_CHANGED = "project.member_changed"
    MEMBER_REMOVED = "project.member_removed"
    PROJECTS_ARCHIVED = "projects.archived"
    PROJECTS_PURGED_AFTER_RETENTION = "projects.purged_after_retention"
    PROJECTS_RESTORED = "projects.restored"
    REVIEW_CLEARED = "project.review_cleared"
    REVIEW_REFUSED = "project.review_refused"
    SUBSCRIBERS_IMPORTED = "subscribers.imported"
    SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed"
    SUSPENDED_FOR_COMPLAINT = "project.suspended_for_complaint"
    STAFF_SUSPENDED = "project.staff_suspended"
    STAFF_SUSPENSION_LIFTED = "project.staff_suspension_lifted"
    UPDATED = "project.updated"
    PROJECTS_STATUS = {"active": "projects.active", "suspended": "projects.suspended", "locked": "projects.locked"}
