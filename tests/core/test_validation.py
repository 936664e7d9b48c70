"""Phone numbers (issue 19, item 16): checked against libphonenumber's metadata, stored as
E.164; a number without a country code is Belgian."""

from __future__ import annotations

import pytest

from pmdesk.core.validation import FieldInvalid, clean_phone, first_valid_phone


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0470 12 34 56", "+32470123456"),
        ("0470/12.34.56", "+32470123456"),
        ("+32 (0) 470 12 34 56", "+32470123456"),
        ("0032 470 12 34 56", "+32470123456"),
        ("09 234 56 78", "+3292345678"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (201) 555-0123", "+12015550123"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_valid_numbers_are_stored_as_e164(typed: str, stored: str) -> None:
    assert clean_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "0470 12 34",  # a digit short: was stored as +324701234
        "0470 12 34 567",  # a digit too many
        "09 123 45 67",  # no Belgian number starts 09 1…
        "+1 (555) 123-4567",  # 555 is no US area code
        "+999 123 456 789",  # no such country code
        "12",
    ],
)
def test_numbers_libphonenumber_calls_invalid_are_refused(typed: str) -> None:
    with pytest.raises(FieldInvalid) as caught:
        clean_phone(typed, label="Mobile")
    assert str(caught.value) == (
        f"Mobile: '{typed}' is not a valid phone number (check the digits and the country code)."
    )


@pytest.mark.parametrize("typed", ["1-800-FLOWERS", "0470 12 34 56 ext 5", "٠٤٧٠١٢٣٤٥٦"])
def test_only_ascii_digits_and_separators_are_read(typed: str) -> None:
    """phonenumbers would read letters as keypad digits and convert other scripts' digits."""
    with pytest.raises(FieldInvalid, match="use digits, spaces and"):
        clean_phone(typed)


def test_the_default_region_can_be_another_country() -> None:
    assert clean_phone("020 7946 0958", region="GB") == "+442079460958"
    with pytest.raises(FieldInvalid):
        clean_phone("020 7946 0958")  # not a Belgian number


def test_a_code_goes_to_the_first_valid_number() -> None:
    assert first_valid_phone("0470 12 34", "09 234 56 78") == "+3292345678"
    assert first_valid_phone("0470 12 34", "") is None
