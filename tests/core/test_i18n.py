"""The core's translatable sentences (pmdesk.core.i18n; docs/i18n.md)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from pmdesk.core.errors import ValidationError
from pmdesk.core.i18n import Catalog, Text, language_code, load_catalog, translate

CATALOGUE = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="nl_BE" sourcelanguage="en_GB">
<context>
    <name>mail</name>
    <message>
        <source>Your code is {code}.</source>
        <translation>Uw code is {code}.</translation>
    </message>
    <message>
        <source>Hello {name}, {sentence}</source>
        <translation>Dag {name}, {sentence}</translation>
    </message>
    <message>
        <source>Not done yet.</source>
        <translation type="unfinished">Half &amp; af.</translation>
    </message>
</context>
</TS>
"""


def test_a_text_reads_as_its_english_sentence() -> None:
    text = translate("mail", "Your code is {code}.").format(code="123456")
    assert text == "Your code is 123456."
    assert isinstance(text, str) and isinstance(text, Text)
    assert (text.context, text.source, dict(text.args)) == (
        "mail",
        "Your code is {code}.",
        {"code": "123456"},
    )


def test_fields_are_named_so_a_translation_can_reorder_them() -> None:
    with pytest.raises(TypeError, match="named fields"):
        translate("mail", "Your code is {}.").format("1")


def test_a_text_survives_pickling_and_an_exception() -> None:
    text = translate("mail", "Your code is {code}.").format(code="1")
    copied = pickle.loads(pickle.dumps(text))
    assert isinstance(copied, Text) and copied.args == {"code": "1"}
    error = ValidationError({"email": text})
    assert error.errors["email"] is text
    assert str(error) == "Your code is 1."


def test_a_catalogue_renders_finished_translations_only(tmp_path: Path) -> None:
    (tmp_path / "pmdesk_nl_BE.ts").write_text(CATALOGUE, encoding="utf-8")
    dutch = load_catalog("nl_BE", tmp_path)
    assert dutch.language == "nl-BE"
    code = translate("mail", "Your code is {code}.").format(code="123456")
    assert dutch.text(code) == "Uw code is 123456."
    nested = translate("mail", "Hello {name}, {sentence}").format(name="An", sentence=code)
    assert dutch.text(nested) == "Dag An, Uw code is 123456."
    # unfinished and unknown sentences stay English; plain strings pass through
    assert dutch.text(translate("mail", "Not done yet.")) == "Not done yet."
    assert dutch.text(translate("mail", "Never seen.")) == "Never seen."
    assert dutch.text("plain") == "plain"


def test_english_or_a_missing_catalogue_translates_nothing(tmp_path: Path) -> None:
    assert load_catalog("fr-BE", tmp_path) == Catalog("fr-BE")
    text = translate("mail", "Your code is {code}.").format(code="9")
    assert load_catalog("en-GB", tmp_path).text(text) == "Your code is 9."


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("nl-BE", "nl-BE"),
        ("nl_BE", "nl-BE"),
        ("NL", "nl-BE"),
        ("nl-NL", "nl-BE"),
        ("fr-be", "fr-BE"),
        ("fr_FR", "fr-BE"),
        ("en-US", "en-GB"),
        ("de-DE", "en-GB"),
        ("", "en-GB"),
        (None, "en-GB"),
    ],
)
def test_language_codes_fall_back_to_a_supported_language(given: str | None, expected: str) -> None:
    assert language_code(given) == expected
