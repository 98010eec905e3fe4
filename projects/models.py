# Projects, participants, subscribers and webhooks arrive with the projects issue.
