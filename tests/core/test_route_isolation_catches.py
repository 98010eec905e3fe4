"""Issue 17, item 3: the isolation checks can fail. Each test below opens one hole on purpose (a
stranger given access, a section not checked, a block ignored, a funnel found in any project, an
invoice found for anyone) and expects the route's check to name it."""

import pytest

from billing import selectors as billing_selectors
from billing.models import Invoice
from projects import permissions, selectors, services
from projects.access import OWNER_ACCESS
from projects.models import Funnel
from tests.core.test_route_isolation import check_api_object_route, check_dashboard_object_route, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


def _anyone_takes_part(monkeypatch):
    real = selectors.project_access

    def leaky(*, client, project_id):
        access = real(client=client, project_id=project_id)
        if access is not None:
            return access
        project = selectors.Project.objects.select_related("owner").filter(pk=project_id).first()
        return project and selectors.ProjectAccess(project=project, client_id=client.pk, is_owner=False, access=dict(OWNER_ACCESS))

    monkeypatch.setattr(selectors, "project_access", leaky)


def _sections_unchecked(monkeypatch):
    monkeypatch.setattr(selectors.ProjectAccess, "allows", lambda self, section, level: True)


def _blocks_ignored(monkeypatch):
    monkeypatch.setattr(permissions.services, "check_may_participate", lambda client: None)


def _blocked_owner_writes(monkeypatch):
    monkeypatch.setattr(permissions.services, "check_project_writable", lambda *, project, actor: None)


def _funnels_of_any_project(monkeypatch):
    monkeypatch.setattr(selectors, "funnel_of", lambda *, project, funnel_id: Funnel.objects.prefetch_related("blocks").filter(pk=funnel_id).first())


def _invoices_for_anyone(monkeypatch):
    monkeypatch.setattr(billing_selectors, "invoices_of", lambda *, client: Invoice.objects.all())


HOLES = [
    (_anyone_takes_part, check_api_object_route, "api-project-subscribers", "another client got 200"),
    (_anyone_takes_part, check_dashboard_object_route, "dashboard:project-funnel", "another client got 200"),
    (_sections_unchecked, check_api_object_route, "api-project-broadcast", "a participant without messages got 200"),
    (_sections_unchecked, check_dashboard_object_route, "dashboard:project-address-book", "a participant without address_books got 200"),
    (_blocks_ignored, check_api_object_route, "api-project-member", "a participant under an abuse block got 200"),
    (_blocked_owner_writes, check_api_object_route, "api-project", "the blocked owner got 200"),
    (_funnels_of_any_project, check_api_object_route, "api-project-funnel", "another client, under its own project, got 200"),
    (_funnels_of_any_project, check_dashboard_object_route, "dashboard:project-funnel-delete", "another client, under its own project, got 200"),
    (_invoices_for_anyone, check_api_object_route, "api-billing-invoice-pdf", "another client got 200"),
    (_invoices_for_anyone, check_dashboard_object_route, "dashboard:billing-invoice-pdf", "another client got 200"),
]


@pytest.mark.parametrize(("hole", "check", "name", "said"), HOLES, ids=[f"{h[0].__name__}-{h[2]}" for h in HOLES])
def test_issue17_the_isolation_check_names_a_hole(monkeypatch, world, hole, check, name, said):  # noqa: F811 (the fixture)
    """Issue 17, item 3: with the hole open, the route's check fails and says who got in."""
    hole(monkeypatch)
    with pytest.raises(AssertionError, match=said):
        check(name, world)


def test_issue17_without_a_hole_the_same_checks_pass(world):  # noqa: F811 (the fixture)
    """The control: the very checks above, with nothing opened, pass."""
    assert services.check_may_participate is permissions.services.check_may_participate
    for _hole, check, name, _said in HOLES[:2]:
        check(name, world)
