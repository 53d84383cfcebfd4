"""Importing existing users: the whole file is checked first; all rows or none are written."""

import pytest
from django.core import mail

from core import codes as codelib
from core.errors import DomainError
from referrals import services
from referrals.models import Referrer, ReferrerImport
from tests.referrals.conftest import join

pytestmark = pytest.mark.django_db


def check(program, data: bytes, **kwargs) -> ReferrerImport:
    return services.referrer_import_check(
        actor=None, program=program, file_name="users.csv", data=data, **kwargs
    )


def test_a_good_file_makes_every_row_a_referrer_with_a_link(program):
    upload = check(
        program,
        b"\xef\xbb\xbfEmail;Company;Name\r\nann@acme.com;Acme;Ann Lee\r\nBO@beta.com;;Bo\r\n\r\n",
    )
    assert (upload.status, upload.total_rows, upload.issues) == ("valid", 2, [])
    assert not Referrer.objects.exists()  # nothing before Complete Import
    done = services.referrer_import_complete(actor=None, upload=upload)
    assert (done.status, done.imported) == ("done", 2)
    people = {r.email: r for r in Referrer.objects.all()}
    assert set(people) == {"ann@acme.com", "bo@beta.com"}
    ann = people["ann@acme.com"]
    assert (ann.name, ann.company, ann.status, ann.source) == (
        "Ann Lee",
        "Acme",
        "active",
        "import",
    )
    assert codelib.has_valid_check(ann.code)
    assert not mail.outbox


def test_first_and_last_name_columns_make_the_name(program):
    upload = check(program, b"First Name,Last Name,E-mail\nAnn,Lee,ann@acme.com\n")
    services.referrer_import_complete(actor=None, upload=upload)
    assert Referrer.objects.get().name == "Ann Lee"


def test_welcome_emails_go_out_when_asked(program):
    upload = check(program, b"Name,Email\nAnn,ann@acme.com\nBo,bo@beta.com\n", send_welcome=True)
    services.referrer_import_complete(actor=None, upload=upload)
    assert sorted(m.to[0] for m in mail.outbox) == ["ann@acme.com", "bo@beta.com"]
    assert all(m.subject == "Welcome to Partner program" for m in mail.outbox)


def test_members_already_in_the_program_are_left_as_they_are(program):
    join(program, "ann@acme.com", name="Ann Original")
    upload = check(program, b"Name,Email\nAnn New,ann@acme.com\nBo,bo@beta.com\n")
    assert (upload.total_rows, upload.already_members) == (1, 1)
    services.referrer_import_complete(actor=None, upload=upload)
    assert Referrer.objects.get(email="ann@acme.com").name == "Ann Original"
    assert Referrer.objects.count() == 2


def test_every_issue_is_named_by_row_and_column_and_nothing_is_imported(program):
    upload = check(
        program,
        b"Name,Email\nAnn,ann@acme.com\n,bo@beta.com\nCy,not-an-email\nDi,ANN@acme.com\nEd\n",
    )
    assert upload.status == "invalid" and upload.issue_count == 4
    found = [(i["row"], i["column"], i["message"]) for i in upload.issues]
    assert found == [
        (3, "Name", "The name is missing."),
        (4, "Email", "Not a valid email address."),
        (5, "Email", "Also on row 2: list it once."),
        (6, "", "This row has 1 cells; the header has 2."),
    ]
    with pytest.raises(DomainError, match="without issues"):
        services.referrer_import_complete(actor=None, upload=upload)
    assert not Referrer.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"Name,Email\n", "The file has a header but no rows."),
        (b"PK\x03\x04binary", "not CSV text"),
        (b"Name,Phone\nAnn,1\n", "Unknown column"),
        (b"Email,Email\na@b.com,a@b.com\n", "appears twice"),
        (b"Company\nAcme\n", "The Email column is missing."),
    ],
)
def test_a_malformed_file_is_refused_with_the_reason(program, data, message):
    upload = check(program, data)
    assert upload.status == "invalid"
    assert any(message in issue["message"] for issue in upload.issues), upload.issues


def test_limits_are_kept(program, settings):
    settings.REFERRER_IMPORT_MAX_ROWS = 2
    upload = check(program, b"Name,Email\nA,a@x.com\nB,b@x.com\nC,c@x.com\n")
    assert upload.status == "invalid" and "Over 2 rows" in upload.issues[0]["message"]
    settings.REFERRER_IMPORT_MAX_BYTES = 10
    upload = check(program, b"Name,Email\nA,a@x.com\n")
    assert upload.status == "invalid"
    assert upload.issues[0]["message"] == "The file is over the limit of 10 bytes: split it."


def test_an_import_completes_once(program):
    upload = check(program, b"Name,Email\nAnn,ann@acme.com\n")
    services.referrer_import_complete(actor=None, upload=upload)
    with pytest.raises(DomainError):
        services.referrer_import_complete(actor=None, upload=upload)
    assert Referrer.objects.count() == 1
