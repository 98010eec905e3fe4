"""The dashboard's address-book upload (PRJ-5): a CSV file read into the rows an import takes,
each refused line shown with its reason; a refused file, one without the consent statement, or a
hostile one (NUL bytes, not UTF-8, too many rows) writes nothing; a participant at `view` reads
the contacts and cannot upload; another client's book is not found."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects import services
from projects.models import AddressBook, Contact
from tests.factories import add_member, make_project
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def csv_file(body: str | bytes, name: str = "contacts.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body.encode() if isinstance(body, str) else body, content_type="text/csv")


@pytest.fixture
def book(client_account):
    project = make_project(owner=client_account)
    return services.create_address_book(project=project, actor=client_account, name="Fair visitors")


@pytest.fixture
def owner_browser(client, client_account):
    client.force_login(client_account)
    return client


def url(book) -> str:
    return f"/projects/{book.project_id}/address-books/{book.pk}/"


def test_prj5_a_new_address_book_is_created_from_the_project_page(owner_browser, client_account):
    project = make_project(owner=client_account)
    answer = owner_browser.post(f"/projects/{project.pk}/address-books/", {"name": "Newsletter"}, follow=True)
    book = AddressBook.objects.get(project=project)
    assert answer.redirect_chain[-1][0] == url(book) and "Newsletter" in text(answer)
    assert "Newsletter" in text(owner_browser.get(f"/projects/{project.pk}/"))


def test_prj5_an_upload_adds_the_good_lines_and_names_each_refused_line_with_its_reason(owner_browser, book):
    body = ("Email,Name,Phone\n"  # any order, any case
            "ann@example.org,Ann,\n"
            "not-an-email,Bob,\n"
            "info@example.org,Shop,\n"
            "ann@example.org,Ann again,\n"
            ",Cem,+4915112345678\n")
    page = text(owner_browser.post(url(book), {"file": csv_file(body), "consent_confirmed": "on"}))
    assert "2 contacts added." in page and "3 lines were refused:" in page
    assert "<td>3</td><td>The email address is not valid.</td>" in page
    assert "<td>4</td><td>A role address" in page
    assert "<td>5</td><td>The same email or phone appears on an earlier row.</td>" in page
    assert sorted(Contact.objects.filter(address_book=book).values_list("name", flat=True)) == ["Ann", "Cem"]
    assert "ann@example.org" in text(owner_browser.get(url(book)))


def test_prj5_an_htmx_upload_answers_only_the_outcome_to_swap_in(owner_browser, book):
    answer = owner_browser.post(url(book), {"file": csv_file("name,email\nAnn,ann@example.org\n"), "consent_confirmed": "on"}, headers={"HX-Request": "true"})
    page = text(answer)
    assert page.startswith('<div id="upload">') and "1 contact added." in page and "<html" not in page
    assert Contact.objects.filter(address_book=book).count() == 1


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b"name,email\nAnn,ann@example.org\x00\n", "holds NUL bytes"),
        ("name,email\nAnn,ann@example.org\n".encode("utf-16"), "holds NUL bytes"),
        (b"name,email\n\xff\xfeAnn,ann@example.org\n", "not UTF-8"),
        (b"first,last\nAnn,Smith\n", "must name the columns"),
        (b"name,email\n", "no rows"),
        (b"", "The submitted file is empty."),
        (b"name,email\n" + b"A" * (5 * 1024 * 1024) + b",a@example.org\n", "The file is over 5 MB"),
        (b"name,email\n\"" + b"A" * 200_000 + b"\",a@example.org\n", "The file is not valid CSV"),
        (("email\n" + "".join(f"p{n}@example.org\n" for n in range(10_001))).encode(), "At most 10,000 rows in one import; this has 10,001."),
    ],
    ids=["nul", "utf16", "not-utf8", "no-header", "no-rows", "empty", "over-5-mb", "huge-cell", "too-many"],
)
def test_prj5_a_file_that_cannot_be_read_is_refused_with_its_reason_and_writes_nothing(owner_browser, book, body, sentence):
    before = database_state()
    page = text(owner_browser.post(url(book), {"file": csv_file(body), "consent_confirmed": "on"}))
    assert sentence in page and "contacts added" not in page
    assert changed_tables(before, database_state()) == []


def test_prj5_without_the_consent_statement_nothing_is_imported(owner_browser, book):
    before = database_state()
    page = text(owner_browser.post(url(book), {"file": csv_file("email\nann@example.org\n")}))
    assert "This field is required." in page
    assert changed_tables(before, database_state()) == []


def test_prj1_a_participant_at_view_reads_the_contacts_and_cannot_upload(client, other_account, book):
    add_member(project=book.project, client=other_account, address_books="view")
    client.force_login(other_account)
    page = text(client.get(url(book)))
    assert "Fair visitors" in page and "Upload contacts" not in page
    before = database_state()
    refused = text(client.post(url(book), {"file": csv_file("email\nann@example.org\n"), "consent_confirmed": "on"}, follow=True))
    assert "This needs full access to address books in this project." in refused
    assert changed_tables(before, database_state()) == []


def test_prj1_another_clients_address_book_is_not_found_and_nothing_changes(client, other_account, book):
    client.force_login(other_account)
    before = database_state()
    assert client.get(url(book)).status_code == 404
    assert client.post(url(book), {"file": csv_file("email\nann@example.org\n"), "consent_confirmed": "on"}).status_code == 404
    assert client.post(f"/projects/{book.project_id}/address-books/", {"name": "Planted"}).status_code == 404
    assert changed_tables(before, database_state()) == []


def test_the_address_book_page_answers_in_the_same_number_of_queries_with_1_and_50_contacts(owner_browser, book):
    def add(n):
        Contact.objects.bulk_create([Contact(address_book=book, email=f"c{n}-{i}@example.org", consent_source="test", created_at=book.created_at) for i in range(n)])

    add(1)
    with CaptureQueriesContext(connection) as one:
        assert owner_browser.get(url(book)).status_code == 200
    add(49)
    with CaptureQueriesContext(connection) as fifty:
        page = owner_browser.get(url(book))
    assert page.content.decode().count("@example.org</td>") == 50
    assert len(fifty) == len(one), [q["sql"][:100] for q in fifty.captured_queries]
