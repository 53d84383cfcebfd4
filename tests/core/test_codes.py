import random
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import codes

symbols = st.sampled_from(codes.ALPHABET)
payloads = st.text(alphabet=codes.ALPHABET, min_size=1, max_size=29)
prefixes = st.text(alphabet=codes.ALPHABET, max_size=codes.MAX_PREFIX_LENGTH)


def test_alphabet_is_crockford_base32():
    assert len(codes.ALPHABET) == 32
    assert not set("ILOU") & set(codes.ALPHABET)


@given(payloads)
def test_a_made_code_passes_its_check(payload):
    assert codes.has_valid_check(codes.make_code("", payload))


@given(payloads, st.data())
def test_every_single_character_substitution_is_caught(payload, data):
    code = codes.make_code("", payload)
    position = data.draw(st.integers(0, len(code) - 1))
    replacement = data.draw(symbols.filter(lambda ch: ch != code[position]))
    typo = code[:position] + replacement + code[position + 1 :]
    assert not codes.has_valid_check(typo)


@given(payloads)
def test_exhaustively_every_substitution_in_one_code_is_caught(payload):
    code = codes.make_code("", payload)
    for position in range(len(code)):
        for ch in codes.ALPHABET:
            if ch != code[position]:
                assert not codes.has_valid_check(code[:position] + ch + code[position + 1 :])


@given(payloads)
def test_normalise_is_idempotent_and_keeps_stored_codes(payload):
    code = codes.make_code("", payload)
    assert codes.normalise(code) == code
    assert codes.normalise(codes.normalise(code)) == code


@given(payloads, st.data())
def test_a_code_typed_any_way_normalises_to_the_stored_code(payload, data):
    code = codes.make_code("", payload)
    typed = []
    for ch in code:
        variants = [ch, ch.lower()]
        if ch == "0":
            variants += ["O", "o"]
        if ch == "1":
            variants += ["I", "i", "L", "l"]
        typed.append(data.draw(st.sampled_from(variants)))
        typed.append(data.draw(st.sampled_from(["", "", " ", "-"])))
    raw = (
        data.draw(st.sampled_from(["", "  "]))
        + "".join(typed)
        + data.draw(st.sampled_from(["", " \t"]))
    )
    assert codes.normalise(raw) == code


def test_normalise_examples():
    assert codes.normalise(" acme-7k3q ") == "ACME7K3Q"
    assert codes.normalise("ACME 7K3Q") == "ACME7K3Q"
    assert codes.normalise("oil") == "011"


@settings(max_examples=60)
@given(prefixes, st.integers(codes.MIN_WIDTH, codes.MAX_WIDTH), st.integers(1, 300), st.randoms())
def test_bulk_drawing_matches_the_reference_check_symbol(prefix, width, count, rnd):
    drawn = codes.draw_codes(prefix, width, count, randbytes=rnd.randbytes)
    assert len(drawn) == count
    for code in drawn:
        assert len(code) == len(prefix) + width
        assert code.startswith(prefix)
        assert code == codes.make_code(prefix, code[len(prefix) : -1])
        assert codes.has_valid_check(code)


def test_drawn_codes_use_every_symbol_evenly():
    drawn = codes.draw_codes("", 10, 20_000, randbytes=random.Random(7).randbytes)
    counts = {ch: 0 for ch in codes.ALPHABET}
    for code in drawn:
        for ch in code[:-1]:
            counts[ch] += 1
    expected = 20_000 * 9 / 32
    assert all(abs(n - expected) < expected * 0.1 for n in counts.values())


def test_drawing_uses_the_secrets_module_by_default():
    assert codes.draw_codes.__kwdefaults__["randbytes"] is secrets.token_bytes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", ""), ("acme", "ACME"), ("a-b c", "ABC"), ("oil", "011"), ("ABCDEFGHJK", "ABCDEFGHJK")],
)
def test_prefix_is_normalised(raw, expected):
    assert codes.normalise_prefix(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ACME!", "not allowed: !"),
        ("ÄB", "not allowed: Ä"),
        ("U2", "not allowed: U"),
        ("ABCDEFGHJKM", "at most 10"),
    ],
)
def test_prefix_outside_the_alphabet_is_refused(raw, message):
    with pytest.raises(codes.CodeError, match=message):
        codes.normalise_prefix(raw)


def test_guess_odds_and_smallest_safe_width():
    odds = codes.GuessOdds(width=6, existing=0, quantity=1_000)
    assert odds.one_in == 32**5 // 1_000
    assert odds.safe
    crowded = codes.GuessOdds(width=6, existing=3_000, quantity=1_000)
    assert not crowded.safe
    assert crowded.smallest_safe_width == 7
    assert codes.smallest_safe_width(1_000_000) == 8
    assert codes.smallest_safe_width(10**30) is None
