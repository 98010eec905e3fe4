"""What projects holds on a client, for its admin page (issue 16): registered with the accounts
panel registry from `ProjectsConfig.ready()`, read only, in a fixed number of queries."""

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.admin_panels import Fact, Link, Listing, Row, last, moment, register_client_panel
from core.admin import change_url, changelist_url
from projects import selectors
from projects.models import Project, ProjectMember, Subscriber


def projects_panel(client) -> dict:
    """PRJ-1, TAR-3: the projects the client owns, each with its active subscribers, and those
    it takes part in."""
    owned = Project.objects.filter(owner=client)
    taking_part = ProjectMember.objects.filter(client=client).count()
    rows = []
    for project in last(owned.annotate(active_count=selectors.active_subscribers_of_project()).order_by("-created_at", "-id")):
        subscribers = ngettext("%(count)s active subscriber", "%(count)s active subscribers", project.active_count) % {"count": project.active_count}
        details = [Link(subscribers, changelist_url(Subscriber, project__id__exact=project.pk)), project.get_industry_display(), gettext("made %(at)s") % {"at": moment(project.created_at)}]
        flag = gettext("deleted %(at)s") % {"at": moment(project.deleted_at)} if project.deleted_at else project.get_status_display()
        rows.append(Row(f"{project.name} (#{project.pk})", change_url(project), details, flag=flag))
    facts = [
        Fact(gettext("Projects owned"), str(owned.count()), changelist_url(Project, owner__id__exact=client.pk)),
        Fact(gettext("Active subscribers (all live projects)"), str(selectors.active_subscribers_of_owner(owner_id=client.pk))),
        Fact(gettext("Takes part in"), ngettext("%(count)s project of others", "%(count)s projects of others", taking_part) % {"count": taking_part}),
    ]
    return {"facts": facts, "lists": [
        Listing(gettext("Projects"), rows, changelist_url(Project, owner__id__exact=client.pk), gettext("No project.")),
    ]}


register_client_panel(50, _("Projects"), projects_panel, permission="projects.view_project")
