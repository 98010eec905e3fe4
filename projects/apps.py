from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Projects")

    def ready(self) -> None:
        # Imported here, not at the top: models and other apps can be imported only once the app registry is ready.
        from compliance import complaints, privacy
        from compliance.signals import spam_complaint_decided, spam_complaint_received
        from projects import privacy as projects_privacy
        from projects import selectors, services

        privacy.register("projects", export=projects_privacy.export, erase=projects_privacy.erase)
        privacy.register_subject_eraser(projects_privacy.erase_subject)
        from compliance import retention

        retention.register("telegram update ids", services.purge_telegram_updates)
        complaints.register(exists=selectors.project_exists, knows=selectors.complainant_knows_project)
        spam_complaint_received.connect(services.stop_sending_for_complaint, dispatch_uid="projects.spam_received")
        spam_complaint_decided.connect(services.after_spam_complaint_decided, dispatch_uid="projects.spam_decided")
        from projects import admin_panels  # noqa: F401  (registers the client page's projects panel, issue 16)
