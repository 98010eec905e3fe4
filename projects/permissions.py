"""The one place where a request's access to a project is decided (PRJ-1, ACC-3)."""

from django.http import Http404
from django.utils.translation import gettext_noop
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.exceptions import RuleRefused, lowered
from projects import selectors, services
from projects.access import Level, Section

ANY_ACCESS = "any"  # any section at view or more: the project itself is visible
OWNER = "owner"  # only the owner, whatever a participant holds


class ProjectAccessPermission(BasePermission):
    """Resolves the project of the URL (`project_id`) for the signed-in client and checks the
    section and level that the view declares for the method in `access_rules`:
    `{"GET": ("subscribers", "view"), "POST": ("subscribers", "full")}`, or ANY_ACCESS, or OWNER.

    No access at all → 404 (the project does not exist for the caller). A participant whose
    participations are suspended (an `abuse` or `staff` block, ACC-3) → 403
    `participation_suspended`, reads included. Too low a level → 403
    `permission_denied`. A write (any unsafe method) also passes the projects' write guard:
    a blocked owner's project → 403 `account_blocked`, an archived one → 409 `project_archived`.
    The view finds the result in `view.project_access`."""

    def has_permission(self, request, view) -> bool:
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        rule = view.access_rules.get(method)
        if rule is None:
            view.project_access = project_access_for(request.user, view.kwargs["project_id"], ANY_ACCESS, write=False)
            return True  # no handler for the method either: DRF answers 405
        view.project_access = project_access_for(request.user, view.kwargs["project_id"], rule, write=request.method not in SAFE_METHODS)
        return True


def project_access_for(client, project_id: int, rule, *, write: bool) -> selectors.ProjectAccess:
    """The client's access to the project for `rule` (a section and level, ANY_ACCESS or OWNER),
    or the refusal: 404 when it has none, 403 `participation_suspended` or `permission_denied`,
    and for a write the projects' write guard. The API's permission and the dashboard's views ask
    here, so that both answer alike."""
    access = selectors.project_access(client=client, project_id=project_id)
    if access is None:
        raise Http404
    if not access.is_owner:
        services.check_may_participate(client)
    if rule == OWNER:
        allowed = access.is_owner
    elif rule == ANY_ACCESS:
        allowed = True
    else:
        allowed = access.allows(*rule)
    if not allowed:
        if rule == OWNER:
            raise RuleRefused("permission_denied", gettext_noop("This needs the owner in this project."), status=403)
        needs = gettext_noop("This needs full access to %(section)s in this project.") if rule[1] == Level.FULL else \
            gettext_noop("This needs view access to %(section)s in this project.")
        raise RuleRefused("permission_denied", needs, params={"section": lowered(Section(rule[0]).label)}, status=403)
    if write:
        services.check_project_writable(project=access.project, actor=client)
    return access
