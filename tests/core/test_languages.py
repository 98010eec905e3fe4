"""English and Ukrainian (issue 14): the browser's language first, the signed-in client's choice
over it, kept on the account by the header's switch (its cookie lasting only with preference
consent, CMP-8); money and dates as the language writes them; rule sentences translated in the
dashboard and the API; the Ukrainian catalogue complete."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import Client
from compliance.services import set_cookie_consent
from core.money import local_dollars
from tests.factories import key_for, make_project
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db
PO = Path(settings.BASE_DIR) / "locale" / "uk" / "LC_MESSAGES" / "django.po"


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_browsers_language_comes_first(client, client_account):
    client.force_login(client_account)
    assert 'lang="uk"' in text(client.get("/projects/", headers={"accept-language": "uk,en;q=0.5"}))
    assert "Проєкти" in text(client.get("/projects/", headers={"accept-language": "uk"}))
    english = text(client.get("/projects/", headers={"accept-language": "de,en;q=0.5"}))
    assert 'lang="en"' in english and "Projects" in english


def test_the_clients_choice_is_kept_on_its_account_and_wins_over_the_browser(client, client_account):
    client.force_login(client_account)
    answer = client.post("/i18n/setlang/", {"language": "uk", "next": "/billing/"})
    assert answer.status_code == 302 and answer["Location"] == "/billing/"
    client_account.refresh_from_db()
    assert client_account.language == "uk"
    cookie = answer.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "uk" and cookie["max-age"] == ""  # no preference consent: for the session only
    client.cookies.pop(settings.LANGUAGE_COOKIE_NAME)
    assert "Оплата" in text(client.get("/billing/", headers={"accept-language": "en"}))


def test_cmp8_with_preference_cookies_allowed_the_language_cookie_lasts(client, client_account):
    set_cookie_consent(visitor=None, client=client_account, preference=True, analytics=False, marketing=False)
    client.force_login(client_account)
    cookie = client.post("/i18n/setlang/", {"language": "uk"}).cookies[settings.LANGUAGE_COOKIE_NAME]
    assert int(cookie["max-age"]) >= 300 * 24 * 3600


@pytest.mark.parametrize("language", ["de", "", "uk\x00", "x" * 5000])
def test_a_language_one_cannot_choose_is_refused_and_nothing_changes(client, client_account, language):
    client.force_login(client_account)
    before = database_state()
    answer = client.post("/i18n/setlang/", {"language": language, "next": "https://evil.example.com/"}, follow=True)
    assert answer.redirect_chain[0][0] == "/"  # never sent off the site
    assert "Choose English or Ukrainian." in text(answer)
    assert changed_tables(before, database_state()) == [] and settings.LANGUAGE_COOKIE_NAME not in client.cookies
    assert Client.objects.get(pk=client_account.pk).language == ""


def test_a_visitor_switches_too_and_a_new_client_keeps_the_language_it_registered_in(client, api):
    assert "Увійти" in text(client.get("/accounts/login/", headers={"accept-language": "uk"}))
    answer = api.post("/api/v1/auth/register/", {"name": "Оля", "email": "olya@example.com", "password": "correct-horse-battery",
                                                 "accept_terms": True, "age_confirmed": True}, format="json", headers={"accept-language": "uk"})
    assert answer.status_code == 201
    assert Client.objects.get(email="olya@example.com").language == "uk"


def test_money_and_dates_are_written_as_the_language_writes_them(client, client_account):
    from django.utils import translation

    assert local_dollars(123456) == "$1,234.56" and local_dollars(-50) == "-$0.50"
    with translation.override("uk"):
        assert local_dollars(123456) == "1\xa0234,56 $"
    client_account.language = "uk"
    client_account.save()
    client.force_login(client_account)
    page = text(client.get("/billing/"))
    assert "0,00 $" in page and "$0.00" not in page


def test_a_rules_refusal_is_translated_in_the_dashboard_and_the_api(client, api, client_account):
    make_project(owner=client_account, name="One")
    make_project(owner=client_account, name="Two")
    client_account.language = "uk"
    client_account.save()
    client.force_login(client_account)
    page = text(client.post("/projects/", {"name": "Third", "industry": "other"}, follow=True))
    assert "На тарифі Free можна створити 2 проєкти" in page and 'value="Third"' in page
    english = api.post("/api/v1/projects/", {"name": "Third"}, format="json", headers={"authorization": f"Bearer {key_for(client_account)}"})
    ukrainian = api.post("/api/v1/projects/", {"name": "Third"}, format="json",
                         headers={"authorization": f"Bearer {key_for(client_account)}", "accept-language": "uk"})
    assert english.status_code == ukrainian.status_code == 409
    assert english.json()["code"] == ukrainian.json()["code"] == "free_project_limit"
    assert english.json()["detail"].startswith("On the Free tariff you can create 2 projects")
    assert ukrainian.json()["detail"].startswith("На тарифі Free можна створити 2 проєкти")


def test_the_ukrainian_catalogue_translates_every_message():
    source = PO.read_text(encoding="utf-8")
    entries = source.split("\n\n")[1:]  # the first is the header
    untranslated = [e for e in entries if re.search(r'^msgstr(\[\d\])? ""\n?$', e.strip().split("\n")[-1]) and not e.lstrip().startswith("#~")]
    assert untranslated == []
    assert "#, fuzzy" not in source.split("\n\n", 1)[1]
    assert (PO.with_suffix(".mo")).exists()  # compiled by make


def test_the_api_reads_and_chooses_the_language(api, client_account):
    headers = {"authorization": f"Bearer {key_for(client_account)}"}
    assert api.get("/api/v1/me/", headers=headers).json()["language"] == ""
    answer = api.patch("/api/v1/me/", {"language": "uk"}, format="json", headers=headers)
    assert answer.status_code == 200 and answer.json()["language"] == "uk"
    assert Client.objects.get(pk=client_account.pk).language == "uk"
    refused = api.patch("/api/v1/me/", {"language": "klingon"}, format="json", headers=headers)
    assert refused.status_code == 400 and Client.objects.get(pk=client_account.pk).language == "uk"
