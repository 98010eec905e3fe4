"""The staff console's index (issue 16): the day's figures from the night's snapshot (CMP-5), each
a link to its filtered list, the same queries for 10 clients as for 10,000, readable on a phone."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Client, Restriction
from billing import snapshots
from billing.models import NightlyRun, NightlyStep, PaymentAttempt, Subscription
from compliance.models import Complaint, Incident, PrivacyRequest
from projects.models import Project
from tests.factories import make_client, make_project

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2027, 3, 10, 9, tzinfo=datetime.UTC)
D = datetime.date


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def bulk_pro(count: int, start: int = 0) -> None:
    """`count` PRO clients with active monthly subscriptions of 1–3 packages at $10."""
    clients = Client.objects.bulk_create([Client(email=f"bulk{n}@example.com", name="Bulk", tariff=Client.Tariff.PRO)
                                          for n in range(start, start + count)])
    Subscription.objects.bulk_create([
        Subscription(client=c, period="monthly", packages=1 + n % 3, package_price_cents=1000, anchor_date=D(2027, 3, 1),
                     period_start=D(2027, 3, 1), period_end=D(2027, 4, 1)) for n, c in enumerate(clients)])


def night(day: D) -> NightlyRun:
    """A night's record and its snapshot, as run_nightly leaves them."""
    at = datetime.datetime.combine(day, datetime.time(1), tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    run = NightlyRun.objects.create(night=day, at=at, status=NightlyRun.Status.DONE, finished_at=at,
                                    report={"totals": {"renewals": {"clients": 2, "charged_cents": 2500, "credited_cents": 0, "failures": 1}}})
    NightlyStep.objects.create(run=run, name="renewals", clients=2, charged_cents=2500, credited_cents=300, failures=[{"client": 1, "error": "x"}])
    snapshots.write_snapshot(day=day, at=at, run=run)
    return run


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_cmp5_the_index_shows_the_days_figures_each_a_link_to_its_list(staff_browser):
    bulk_pro(3)  # 1 + 2 + 3 packages: $60.00 MRR
    make_client(email="free@example.com")
    blocked = make_client(email="blocked@example.com")
    project = make_project(owner=blocked, name="Pills shop", industry="pharmaceuticals")
    Client.objects.filter(pk=blocked.pk).update(status=Client.Status.BLOCKED, block_reason=Client.BlockReason.STAFF)
    Project.objects.filter(pk=project.pk).update(review=Project.Review.PENDING)
    PrivacyRequest.objects.create(kind="access", due_at=D(2027, 3, 1))  # overdue
    PrivacyRequest.objects.create(kind="erasure", due_at=D(2027, 3, 12))  # due soon
    Complaint.objects.create(identification="x", description="y", period_start=D(2027, 3, 1), period_end=D(2027, 3, 2), due_at=D(2027, 3, 11))
    Incident.objects.create(discovered_at=NOW - datetime.timedelta(hours=80), description="leak")  # past its 72 hours
    Incident.objects.create(discovered_at=NOW - datetime.timedelta(hours=60), description="near")  # 12 hours left
    Restriction.objects.create(client=blocked, kind="block", reason="staff", ends_at=NOW + datetime.timedelta(hours=3))
    PaymentAttempt.objects.create(client=blocked, kind="charge", amount_cents=100, purpose="x", idempotency_key="k1", gateway="sandbox", status="unknown")
    run = night(D(2027, 3, 10))

    response = staff_browser.get("/admin/")
    assert response.status_code == 200
    page, html = text(response), response.content.decode()
    assert "MRR $60.00" in page and "3 paying PRO subscriptions" in page
    assert re.search(r"Clients by tariff Free 2 PRO 3 Clients by state Active 4 Suspended 0 Blocked 1 Deleted 0", page)
    assert f'href="/admin/billing/nightlyrun/{run.pk}/change/"' in html
    assert "Night of 2027-03-10" in page and "Charges $25.00" in page and "Credits $3.00" in page and "Failures 1" in page
    assert "Outcome unknown 1" in page
    assert 'href="/admin/billing/paymentattempt/?status__exact=unknown"' in html
    assert re.search(r"Privacy requests \(CMP-2\) Overdue 1 Due within 5 days 1 Open 2", page)
    assert re.search(r"Complaints \(CMP-4\) Overdue 0 Due within 5 days 1 Open 1", page)
    assert "Incidents past 72 hours (CMP-6) 1" in page and "Incidents within 24 hours of it 1" in page
    assert "Projects waiting for industry review (PRJ-7) 1" in page and "Restrictions that end today 1" in page
    for link in ('/admin/accounts/client/?tariff__exact=pro&amp;is_staff__exact=0', '/admin/accounts/client/?status__exact=blocked&amp;is_staff__exact=0',
                 '/admin/billing/subscription/?status__exact=active', '/admin/compliance/privacyrequest/?deadline=overdue',
                 '/admin/compliance/complaint/?deadline=soon', '/admin/compliance/incident/?notice=past',
                 '/admin/projects/project/?review__exact=pending'):
        assert f'href="{link}"' in html
    assert "<svg" in html and "cdn" not in html.lower()


def test_cmp5_each_link_of_the_index_opens_its_list_with_the_count_it_shows(staff_browser):
    """Every figure's link opens an admin list (no `?e=1` refused lookup) and ends-today counts match."""
    blocked = make_client(email="blocked@example.com")
    Restriction.objects.create(client=blocked, kind="block", reason="staff", ends_at=NOW + datetime.timedelta(hours=3))
    Restriction.objects.create(client=blocked, kind="block", reason="abuse", ends_at=NOW + datetime.timedelta(days=3))  # not today
    night(D(2027, 3, 10))
    html = staff_browser.get("/admin/").content.decode().split('<div class="staff-index">', 1)[1]  # the figures, not the sidebar
    links = sorted(set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/[^"]*)"', html)))
    assert len(links) > 15
    for link in links:
        response = staff_browser.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        assert "e=1" not in response.get("Location", ""), link
    ending = next(link for link in links if link.startswith("/admin/accounts/restriction/")).replace("&amp;", "&")
    assert "1 restriction" in text(staff_browser.get(ending))


def test_cmp5_before_any_night_the_index_says_so(staff_browser):
    response = staff_browser.get("/admin/")
    assert response.status_code == 200
    assert "No night has written its figures yet" in text(response) and "No night has run yet." in text(response)


def test_cmp5_staff_get_the_index_others_are_sent_to_sign_in(client, staff):
    assert client.get("/admin/").status_code == 302
    client.force_login(make_client(email="plain@example.com"))
    response = client.get("/admin/")
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def test_cmp5_the_mrr_chart_stacks_the_months_movements(staff_browser):
    bulk_pro(2)  # February: 1 + 2 packages = $30.00, all new
    with time_machine.travel(datetime.datetime(2027, 2, 10, 9, tzinfo=datetime.UTC), tick=False):
        night(D(2027, 2, 10))
    Subscription.objects.filter(client__email="bulk0@example.com").update(packages=3)  # +$20.00
    Subscription.objects.filter(client__email="bulk1@example.com").update(status="deactivated")  # −$20.00 churn
    night(D(2027, 3, 10))
    response = staff_browser.get("/admin/")
    html, page = response.content.decode(), text(response)
    assert "2027-02 $30.00 $30.00 $0.00 $0.00 -$0.00 -$0.00" in page
    assert "2027-03 $30.00 $0.00 $20.00 $0.00 -$0.00 -$20.00" in page
    assert html.count('class="sd-move-new"') == 1 and html.count('class="sd-move-expansion"') == 1 and html.count('class="sd-move-churn"') == 1
    assert html.count("<rect") >= 2 + 3  # two days of subscribers, two of failures, three movement parts


def test_cmp5_the_index_answers_in_the_same_queries_for_10_and_10000_clients(client, staff):
    client.force_login(staff)

    def queries(count: int, start: int, day: D) -> int:
        bulk_pro(count, start)
        night(day)
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/admin/")
        assert response.status_code == 200
        return len(captured)

    few = queries(10, 0, D(2027, 3, 9))
    many = queries(9990, 10, D(2027, 3, 10))
    assert few == many
    page = text(client.get("/admin/"))
    assert "10000 paying PRO subscriptions" in page.replace(",", "")
    assert "MRR $199,990.00" in page  # 19 + 19,980 packages at $10 (1, 2, 3 packages in turn, each batch from 1)
