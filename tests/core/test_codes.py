"""Security codes: six random digits, kept only as a salted hash, checked strictly."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmdesk.core import codes


def test_codes_are_six_ascii_digits_and_vary() -> None:
    drawn = [codes.new_code() for _ in range(3000)]
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in drawn)
    assert len(set(drawn)) > 2900
    # Zero-padded: about 10 % start with 0 (P(none in 3000) is ~1e-137).
    assert any(c.startswith("0") for c in drawn)
    assert {c[0] for c in drawn} == set("0123456789")


def test_challenge_ids_are_long_and_random() -> None:
    ids = {codes.new_challenge_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 43 and codes.well_formed_challenge_id(i) for i in ids)


def test_the_hash_is_salted_and_does_not_hold_the_code() -> None:
    first, second = codes.hash_code("042137"), codes.hash_code("042137")
    assert first != second  # a fresh salt each time
    assert "042137" not in first
    assert len(first) <= 128  # fits login_challenges.code_hash
    assert codes.code_matches("042137", first) and codes.code_matches("042137", second)
    assert not codes.code_matches("042138", first)


@pytest.mark.parametrize(
    "typed",
    [
        "١٢٣٤٥٦",  # Arabic-Indic digits: "١٢٣٤٥٦".isdigit() is True
        "１２３４５６",  # full-width digits
        "۱۲۳۴۵۶",  # Extended Arabic-Indic
        "123456\n",
        " 123456",
        "123456 ",
        "123 456",
        "12345",
        "1234567",
        "",
        "\x00" * 6,
        "12345\x00",
        "+12345",
        "-12345",
        "12345٦",
        "1" * 1_000_000,
    ],
    ids=lambda v: repr(v)[:20],
)
def test_only_six_ascii_digits_are_a_code(typed: str) -> None:
    stored = codes.hash_code("123456")
    assert not codes.well_formed(typed)
    assert not codes.code_matches(typed, stored)


@pytest.mark.alone  # timed
def test_a_huge_input_is_refused_at_once() -> None:
    stored = codes.hash_code("123456")
    started = time.perf_counter()
    assert not codes.code_matches("9" * 10_000_000, stored)
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize("value", [None, 123456, b"123456", ["123456"]])
def test_non_text_is_never_a_code(value: object) -> None:
    assert not codes.well_formed(value)
    assert not codes.code_matches(value, codes.hash_code("123456"))


@pytest.mark.parametrize("stored", ["", "$", "zz$00", "00$", "abcd$abcd", "nohash"])
def test_a_damaged_stored_hash_never_matches(stored: str) -> None:
    assert not codes.code_matches("123456", stored)


def test_hashing_refuses_something_that_is_not_a_code() -> None:
    with pytest.raises(ValueError):
        codes.hash_code("12345")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12))
def test_any_text_is_handled_without_error(typed: str) -> None:
    expected = len(typed) == 6 and all("0" <= ch <= "9" for ch in typed)
    assert codes.well_formed(typed) is expected


@pytest.mark.parametrize(
    "challenge_id", ["", "short", "a" * 65, "abc def" * 5, "é" * 43, "a/b+c=" * 8]
)
def test_malformed_challenge_ids(challenge_id: str) -> None:
    assert not codes.well_formed_challenge_id(challenge_id)
