import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from core import codes
from invitations import services
from invitations.models import CodeBatch, InvitationCode
from tests.factories import ContractPriceFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


def _generate(price, quantity=5, **kwargs):
    return services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=quantity, width=8, **kwargs
    )


def _post_generate(client, contract, **data):
    url = reverse("invitations:code_generate", args=[contract.pk])
    return client.post(url, {"max_uses": 1, **data})


def test_generate_codes_lands_on_the_list_with_the_new_batch(manager_client, price):
    response = _post_generate(
        manager_client, price.contract, quantity=50, width=8, price=price.pk, note="Spring"
    )
    batch = CodeBatch.objects.get()
    list_url = reverse("invitations:code_list", args=[price.contract.pk])
    assert response["Location"] == f"{list_url}?batch={batch.pk}"
    page = manager_client.get(response["Location"])
    content = page.content.decode()
    assert "Generated 50 codes." in content
    assert "50 codes" in content
    assert batch.created_by.username == page.wsgi_request.user.username
    assert batch.note == "Spring"
    assert content.count('aria-label="Actions for ') == 50
    for label in ("Open Product", "View", "Edit", "Archive", "Delete"):
        assert f">{label}<" in content


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": "", "width": 8}, "Enter how many codes to generate."),
        ({"quantity": "ten", "width": 8}, "Enter the quantity as a whole number"),
        ({"quantity": "0", "width": 8}, "Enter a quantity of at least 1."),
        ({"quantity": "-3", "width": 8}, "Enter a quantity of at least 1."),
        ({"quantity": "1000001", "width": 8}, "At most 1,000,000 codes per batch."),
        ({"quantity": "5", "width": 5}, "Choose a code width between 6 and 20."),
        ({"quantity": "5", "width": 21}, "Choose a code width between 6 and 20."),
        ({"quantity": "5000", "width": 6}, "Choose a width of at least 7."),
    ],
)
def test_bad_input_gets_a_clear_message_and_generates_nothing(manager_client, price, data, message):
    response = _post_generate(manager_client, price.contract, price=price.pk, **data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not InvitationCode.objects.exists()
    assert not CodeBatch.objects.exists()


def test_a_price_from_another_contract_is_refused_on_the_form(manager_client, price):
    other = ContractPriceFactory()
    response = _post_generate(manager_client, price.contract, quantity=5, width=8, price=other.pk)
    assert "Choose one of this contract&#x27;s prices." in response.content.decode()
    assert not InvitationCode.objects.exists()


def test_the_form_shows_the_guess_odds(manager_client, price):
    response = _post_generate(manager_client, price.contract, quantity=5000, width=6, price="")
    assert "1 in 6,710 random guesses hits a code" in response.content.decode()


def test_the_list_finds_a_code_typed_any_way(manager_client, price):
    price.contract.invitation_prefix = "AC"
    price.contract.save()
    _generate(price, quantity=30)
    code = InvitationCode.objects.first().code
    typed = code.lower().replace("0", "o").replace("1", "l")
    typed = f" {typed[:4]}-{typed[4:]} "
    url = reverse("invitations:code_list", args=[price.contract.pk])
    content = manager_client.get(url, {"q": typed}).content.decode()
    assert content.count('aria-label="Actions for ') == 1
    assert code in content
    prefix_hits = manager_client.get(url, {"q": code[:3].lower()}).content.decode()
    expected = InvitationCode.objects.filter(code__startswith=code[:3]).count()
    assert prefix_hits.count('aria-label="Actions for ') == expected


def test_archived_codes_leave_the_default_list_but_stay_on_record(manager_client, price):
    _generate(price, quantity=3)
    code = InvitationCode.objects.first()
    response = manager_client.post(reverse("invitations:code_archive", args=[code.pk]))
    assert response.status_code == 302
    url = reverse("invitations:code_list", args=[price.contract.pk])
    row = f'aria-label="Actions for {code.code}"'
    assert row not in manager_client.get(url).content.decode()
    assert row in manager_client.get(url, {"status": "archived"}).content.decode()
    assert row in manager_client.get(url, {"status": "all"}).content.decode()


def test_the_list_filters_by_price_and_status(manager_client, price):
    other = ContractPriceFactory(contract=price.contract)
    _generate(price, quantity=2)
    _generate(other, quantity=3)
    InvitationCode.objects.filter(price=other).update(uses=1)
    url = reverse("invitations:code_list", args=[price.contract.pk])
    by_price = manager_client.get(url, {"price": other.pk}).content.decode()
    assert by_price.count('aria-label="Actions for ') == 3
    used = manager_client.get(url, {"status": "used"}).content.decode()
    assert used.count('aria-label="Actions for ') == 3
    active = manager_client.get(url, {"status": "active"}).content.decode()
    assert active.count('aria-label="Actions for ') == 2


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_download_csv_streams_every_code_of_the_contract(manager_client, price):
    price.contract.invitation_prefix = "ACME"
    price.contract.save()
    _generate(price, quantity=50, valid_until=date(2027, 1, 31))
    _generate(ContractPriceFactory(), quantity=4)  # another contract's codes stay out
    response = manager_client.get(reverse("invitations:code_export", args=[price.contract.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = _csv(response)
    assert len(rows) == 50
    assert set(rows[0]) == {
        "Code",
        "Product",
        "Price Code",
        "Amount",
        "Currency",
        "Status",
        "Uses",
        "Max Uses",
        "Valid From",
        "Valid Until",
        "Participant",
        "Participant Email",
        "Batch",
        "Created At",
    }
    stored = set(
        InvitationCode.objects.filter(contract=price.contract).values_list("code", flat=True)
    )
    assert {r["Code"] for r in rows} == stored
    first = rows[0]
    assert first["Price Code"] == price.price_code
    assert first["Amount"] == "80.00"
    assert first["Status"] == "Active"
    assert first["Valid Until"] == "2027-01-31"
    assert (first["Participant"], first["Participant Email"]) == ("", "")
    assert first["Valid From"] == ""


def test_download_csv_follows_the_list_filters(manager_client, price):
    other = ContractPriceFactory(contract=price.contract)
    _generate(price, quantity=2)
    _generate(other, quantity=3)
    url = reverse("invitations:code_export", args=[price.contract.pk])
    assert len(_csv(manager_client.get(url, {"price": other.pk}))) == 3


def test_download_csv_defuses_formulas_in_participant_names(manager_client, price):
    _generate(price, quantity=1)
    participant = ParticipantFactory(contract=price.contract, first_name="=HYPERLINK(1)")
    InvitationCode.objects.update(participant=participant)
    rows = _csv(manager_client.get(reverse("invitations:code_export", args=[price.contract.pk])))
    assert rows[0]["Participant"] == f"'=HYPERLINK(1) {participant.last_name}"
    assert rows[0]["Participant Email"] == participant.email


def test_delete_asks_for_confirmation_then_deletes(manager_client, price):
    _generate(price, quantity=1)
    code = InvitationCode.objects.get()
    url = reverse("invitations:code_delete", args=[code.pk])
    assert "Yes, delete" in manager_client.get(url).content.decode()
    assert InvitationCode.objects.exists()
    manager_client.post(url)
    assert not InvitationCode.objects.exists()


def test_a_used_code_cannot_be_deleted_from_the_page(manager_client, price):
    _generate(price, quantity=1)
    code = InvitationCode.objects.get()
    InvitationCode.objects.update(uses=1)
    url = reverse("invitations:code_delete", args=[code.pk])
    assert "revoke or archive it instead" in manager_client.get(url).content.decode()
    response = manager_client.post(url, follow=True)
    assert "has been used and cannot be deleted" in response.content.decode()
    assert InvitationCode.objects.filter(pk=code.pk).exists()


def test_editing_a_code_changes_it_and_shows_its_history(manager_client, price):
    _generate(price, quantity=1)
    code = InvitationCode.objects.get()
    response = manager_client.post(
        reverse("invitations:code_edit", args=[code.pk]),
        {
            "price": price.pk,
            "max_uses": 4,
            "valid_from": "",
            "valid_until": "2030-05-01",
            "status": "active",
        },
    )
    assert response.status_code == 302
    code.refresh_from_db()
    assert (code.max_uses, code.valid_until) == (4, date(2030, 5, 1))
    detail = manager_client.get(reverse("invitations:code_detail", args=[code.pk]))
    assert "max uses 4" in detail.content.decode()


def test_the_edit_form_offers_scheduled_only_to_a_code_still_waiting_for_its_release(
    manager_client, price
):
    _generate(price, quantity=1)
    code = InvitationCode.objects.get()
    url = reverse("invitations:code_edit", args=[code.pk])
    assert 'value="scheduled"' not in manager_client.get(url).content.decode()
    InvitationCode.objects.filter(pk=code.pk).update(status="scheduled")
    assert 'value="scheduled" selected' in manager_client.get(url).content.decode()


def test_a_background_batch_shows_a_progress_bar(manager_client, price, settings):
    settings.CODE_BATCH_SYNC_LIMIT = 10
    batch = CodeBatch.objects.create(contract=price.contract, price=price, quantity=40, width=8)
    url = reverse("invitations:code_list", args=[price.contract.pk])
    page = manager_client.get(url, {"batch": batch.pk}).content.decode()
    assert "<progress" in page
    assert reverse("invitations:batch_progress", args=[batch.pk]) in page
    services.code_batch_generate(batch_id=batch.pk)
    progress = manager_client.get(reverse("invitations:batch_progress", args=[batch.pk])).json()
    assert progress == {
        "id": batch.pk,
        "status": "done",
        "generated": 40,
        "quantity": 40,
        "percent": 100,
        "error": "",
    }
    assert "<progress" not in manager_client.get(url, {"batch": batch.pk}).content.decode()


def test_the_generate_form_posts_large_batches_to_the_background(
    manager_client, price, settings, django_capture_on_commit_callbacks
):
    settings.CODE_BATCH_SYNC_LIMIT = 10
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post_generate(
            manager_client, price.contract, quantity=30, width=8, price=price.pk
        )
    assert len(callbacks) == 1
    page = manager_client.get(response["Location"]).content.decode()
    assert "Generating 30 codes in the background." in page
    assert "<progress" in page


def test_download_csv_gives_times_in_the_configured_time_zone(manager_client, price, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    _generate(price, quantity=1)
    InvitationCode.objects.update(created_at=datetime(2026, 7, 1, 12, 0, 5, 250_000, tzinfo=UTC))
    rows = _csv(manager_client.get(reverse("invitations:code_export", args=[price.contract.pk])))
    assert rows[0]["Created At"] == "2026-07-01 14:00:05"


def test_download_csv_names_the_zone_of_its_times_for_a_reader_in_another_zone(
    manager_client, manager, price, settings
):
    """The file's times are the site's, as its Valid From/Until days: a reader in another
    zone is told so."""
    from core.services import set_time_zone

    settings.TIME_ZONE = "Europe/Berlin"
    set_time_zone(actor=manager, user=manager, time_zone="America/New_York")
    _generate(price, quantity=1)
    InvitationCode.objects.update(created_at=datetime(2026, 7, 1, 12, 0, 5, tzinfo=UTC))
    rows = _csv(manager_client.get(reverse("invitations:code_export", args=[price.contract.pk])))
    assert rows[0]["Created At (Europe/Berlin)"] == "2026-07-01 14:00:05"


def _code_starting_with(price, start: str) -> InvitationCode:
    batch = CodeBatch.objects.create(contract=price.contract, price=price, quantity=1, width=8)
    return InvitationCode.objects.create(
        code=codes.make_code("", start + "Q" * (7 - len(start))),
        contract=price.contract,
        price=price,
        batch=batch,
    )


def test_a_fragment_that_happens_to_pass_the_check_still_finds_by_beginning(manager_client, price):
    fragment = codes.make_code("", "AB")  # three characters whose check symbol holds
    assert codes.has_valid_check(fragment)
    code = _code_starting_with(price, fragment)
    url = reverse("invitations:code_list", args=[price.contract.pk])
    content = manager_client.get(url, {"q": fragment.lower()}).content.decode()
    assert f'aria-label="Actions for {code.code}"' in content


def test_a_whole_code_with_a_typo_is_called_a_typo(manager_client, price):
    _generate(price, quantity=1)
    code = InvitationCode.objects.get().code
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    url = reverse("invitations:code_list", args=[price.contract.pk])
    content = manager_client.get(url, {"q": typo}).content.decode()
    assert "one character is probably mistyped" in content
    partial = manager_client.get(url, {"q": "ZZZ"}).content.decode()
    assert "mistyped" not in partial


def test_download_csv_without_filters_includes_archived_codes(manager_client, price):
    _generate(price, quantity=3)
    InvitationCode.objects.filter(pk=InvitationCode.objects.first().pk).update(is_archived=True)
    url = reverse("invitations:code_export", args=[price.contract.pk])
    rows = _csv(manager_client.get(url))
    assert len(rows) == 3
    assert sorted(r["Status"] for r in rows) == ["Active", "Active", "Archived"]
    assert len(_csv(manager_client.get(url, {"status": "active"}))) == 2


def test_download_csv_defuses_formulas_in_product_names(manager_client):
    price = ContractPriceFactory(product__name="=cmd|' /C calc'!A0")
    _generate(price, quantity=1)
    rows = _csv(manager_client.get(reverse("invitations:code_export", args=[price.contract.pk])))
    assert rows[0]["Product"] == "'=cmd|' /C calc'!A0"


def test_archive_only_returns_to_a_page_of_this_site(manager_client, price):
    _generate(price, quantity=1)
    code = InvitationCode.objects.get()
    url = reverse("invitations:code_archive", args=[code.pk])
    evil = manager_client.post(url, {"archive": "1", "next": "https://evil.example/phish"})
    assert evil["Location"] == reverse("invitations:code_detail", args=[code.pk])
    list_url = reverse("invitations:code_list", args=[price.contract.pk]) + "?status=all"
    back = manager_client.post(url, {"archive": "0", "next": list_url})
    assert back["Location"] == list_url


def test_generate_codes_shows_what_a_code_will_look_like_and_picks_the_only_price(
    manager_client, price
):
    price.contract.invitation_prefix = "ACME"
    price.contract.save()
    page = manager_client.get(reverse("invitations:code_generate", args=[price.contract.pk]))
    content = page.content.decode()
    assert "ACMEXXXXXXXX" in content
    assert f'<option value="{price.pk}" selected>' in content
