"""Issue 17, item 4: per-IP limits and the audit log read the caller's address the one way
`core.client_ip` gives it, by TRUSTED_PROXY_COUNT; a caller's own X-Forwarded-For buys nothing."""

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from compliance.models import AuditLog
from core.client_ip import client_ip, limit_ident

# Every endpoint with a per-IP limit (core.throttling.PerIpThrottle), by its throttle scope. Each is
# sent an empty body: refused as invalid (400), counted by its limit all the same, nothing stored.
PER_IP = {
    "register": "/api/v1/auth/register/",
    "token": "/api/v1/auth/token/",
    "recovery": "/api/v1/auth/access-recovery/",
    "popup": "/api/v1/public/subscribe/",
}


def request(remote_addr="198.51.100.7", forwarded=None):
    headers = {"REMOTE_ADDR": remote_addr} if remote_addr is not None else {}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    made = RequestFactory().get("/", **headers)
    if remote_addr is None:
        made.META.pop("REMOTE_ADDR", None)
    return made


@pytest.fixture
def rates(settings):
    """Every per-IP limit at 3 a minute, for the test's length."""
    rates = {scope: "3/min" for scope in PER_IP}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    yield


# --- reading the address ---------------------------------------------------------------------------


def test_issue17_by_default_the_socket_address_is_the_caller_whatever_the_header_says(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request(forwarded="203.0.113.1")) == "198.51.100.7"
    assert client_ip(request(forwarded="203.0.113.1, 203.0.113.2")) == "198.51.100.7"


@pytest.mark.parametrize(
    ("count", "forwarded", "caller"),
    [
        (1, "203.0.113.50", "203.0.113.50"),  # client → our proxy → app
        (1, "6.6.6.6, 203.0.113.50", "203.0.113.50"),  # the left part is the caller's own claim
        (2, "6.6.6.6, 203.0.113.50, 10.0.0.2", "203.0.113.50"),  # client → edge → inner proxy → app
        (2, "203.0.113.50", "203.0.113.50"),  # fewer entries than proxies: all of them ours, the left-most
        (1, " 203.0.113.50 ,", "203.0.113.50"),  # empty entries are no hop
        (1, "2001:DB8::1", "2001:db8::1"),
        (1, "::ffff:203.0.113.50", "203.0.113.50"),  # an IPv4 caller in IPv6 form is the same caller
    ],
)
def test_issue17_with_trusted_proxies_the_nth_address_from_the_right_is_the_caller(settings, count, forwarded, caller):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_ip(request(forwarded=forwarded)) == caller


@pytest.mark.parametrize("forwarded", ["", " , ", "garbage", "203.0.113.50:4711", "203.0.113.\x0050", "\udc80"])
def test_issue17_a_header_that_names_no_address_falls_back_to_the_socket(settings, forwarded):
    """Never an error (the audit log stores what it gives, in an inet column): REMOTE_ADDR."""
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request(forwarded=forwarded)) == "198.51.100.7"


def test_issue17_no_address_at_all_is_none(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request(remote_addr=None)) is None
    assert client_ip(request(remote_addr="not an address")) is None
    assert limit_ident(request(remote_addr=None)) == "unknown"


def test_issue17_limits_count_an_ipv6_caller_by_its_64(settings):
    """A host holds a whole /64: a new address from it per request is the same caller."""
    settings.TRUSTED_PROXY_COUNT = 0
    one, other = request(remote_addr="2001:db8:1:2::1"), request(remote_addr="2001:db8:1:2:ffff::9")
    assert limit_ident(one) == limit_ident(other) == "2001:db8:1:2::/64"
    assert limit_ident(request(remote_addr="2001:db8:1:3::1")) != limit_ident(one)
    assert client_ip(one) == "2001:db8:1:2::1"  # the audit log keeps the address itself


# --- the per-IP limits -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("scope", sorted(PER_IP))
def test_issue17_by_default_a_new_forwarded_for_per_request_does_not_escape_the_limit(settings, rates, scope):
    settings.TRUSTED_PROXY_COUNT = 0
    api = APIClient(REMOTE_ADDR="198.51.100.7")
    codes = [api.post(PER_IP[scope], {}, format="json", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    assert not AuditLog.objects.exists()
    # Another socket address has its own budget.
    assert APIClient(REMOTE_ADDR="198.51.100.8").post(PER_IP[scope], {}, format="json").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("scope", sorted(PER_IP))
def test_issue17_behind_one_proxy_each_real_client_has_its_own_budget(settings, rates, scope):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = APIClient(REMOTE_ADDR="10.0.0.1")  # every request comes from our load balancer

    def send(forwarded):
        return proxy.post(PER_IP[scope], {}, format="json", HTTP_X_FORWARDED_FOR=forwarded).status_code

    # One caller rewriting the left part of the header it sends stays one caller.
    spoofing = [send(f"6.6.6.{n}, 203.0.113.50") for n in range(4)]
    assert spoofing == [400, 400, 400, 429]
    # Another real client behind the same proxy is counted apart, and not held back by the first.
    assert [send("203.0.113.60") for _ in range(3)] == [400, 400, 400]
    assert send("203.0.113.60") == 429


@pytest.mark.django_db
def test_issue17_the_popup_limit_is_per_caller_behind_the_proxy(settings, rates, client_account):
    """The same through a form that stores: the spoofer's fourth submission stores nothing."""
    from projects.models import Subscriber
    from tests.factories import make_project

    settings.TRUSTED_PROXY_COUNT = 1
    project = make_project(owner=client_account)
    proxy = APIClient(REMOTE_ADDR="10.0.0.1")

    def send(n, forwarded):
        body = {"public_key": project.public_key, "email": f"p{n}@example.org", "consent": True}
        return proxy.post(PER_IP["popup"], body, format="json", HTTP_X_FORWARDED_FOR=forwarded).status_code

    assert [send(n, f"6.6.6.{n}, 203.0.113.50") for n in range(4)] == [200, 200, 200, 429]
    assert send(9, "203.0.113.60") == 200
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == ["p0@example.org", "p1@example.org", "p2@example.org", "p9@example.org"]


# --- the audit log -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("count", "stored"), [(0, "10.0.0.1"), (1, "203.0.113.50")])
def test_issue17_the_audit_log_keeps_the_address_the_trusted_proxies_give(settings, client, client_account, count, stored):
    settings.TRUSTED_PROXY_COUNT = count
    client.force_login(client_account)
    client.post("/api-keys/", {"name": "ip check"}, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.50")
    assert AuditLog.objects.get(action="api_key.created").ip == stored


@pytest.mark.django_db
def test_issue17_a_forwarded_for_that_is_no_address_never_breaks_the_audit_log(settings, client, client_account):
    """It used to reach the log's inet column as it was sent (a 500 on PostgreSQL)."""
    settings.TRUSTED_PROXY_COUNT = 1
    client.force_login(client_account)
    response = client.post("/api-keys/", {"name": "ip check"}, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="'; drop table --")
    assert response.status_code < 500
    assert AuditLog.objects.get(action="api_key.created").ip == "10.0.0.1"


def test_issue17_allauth_reads_the_same_address(settings):
    """allauth's own limits (sign-up, password reset) count the caller the proxies name, too."""
    from allauth.account.adapter import get_adapter

    settings.TRUSTED_PROXY_COUNT = 1
    assert get_adapter().get_client_ip(request(forwarded="6.6.6.6, 203.0.113.50")) == "203.0.113.50"
    settings.TRUSTED_PROXY_COUNT = 0
    assert get_adapter().get_client_ip(request(forwarded="203.0.113.50")) == "198.51.100.7"
