"""Sentences the core writes for people, translatable without Qt (docs/i18n.md).

The core stays Qt-free, yet its messages reach the screens (a field's error, a refusal) and the
mail (the security code, an alert). ``translate(context, source)`` marks a sentence the way Qt's
``lupdate`` extracts it and returns a :class:`Text`: the English sentence as a ``str``, which
also remembers its context, source and arguments, so that

- the desktop app shows it in the chosen language (``pmdesk.ui.translation.localize``), and
- the core itself renders it for a mail's recipient from the shipped ``.ts`` catalogue
  (:class:`Catalog`), where no Qt is loaded (the command line, the relay).

Everything that compares or logs the text sees plain English, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

#: The languages pmdesk speaks, by code (their own names: modules.LANGUAGES).
ENGLISH = "en-GB"
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en-GB", "nl-BE", "fr-BE")

#: Where the translation sources live; the compiled ``.qm`` files sit beside them.
I18N_DIR = Path(__file__).resolve().parent.parent / "resources" / "i18n"


class Text(str):
    """An English sentence that knows how to be translated: ``context``, ``source``, ``args``."""

    context: str
    source: str
    args: Mapping[str, Any]

    def __new__(cls, context: str, source: str, args: Mapping[str, Any] | None = None) -> Text:
        values = dict(args or {})
        english = source.format(**values) if values else source
        made = super().__new__(cls, english)
        made.context = context
        made.source = source
        made.args = values
        return made

    def format(self, *args: object, **kwargs: Any) -> Text:
        """The sentence with its ``{name}`` fields filled; it stays translatable."""
        if args:
            raise TypeError("Text.format takes named fields only, so translations can reorder them")
        return Text(self.context, self.source, {**self.args, **kwargs})

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (self.context, self.source, dict(self.args)))


def translate(context: str, source: str) -> Text:
    """Mark ``source`` for translation in ``context`` (``lupdate`` finds this call by name)."""
    return Text(context, source)


def language_code(value: str | None) -> str:
    """A supported language code for ``value`` ("nl", "nl_BE", "fr-be" ...); English otherwise."""
    if not value:
        return ENGLISH
    wanted = value.replace("_", "-").lower()
    for code in SUPPORTED_LANGUAGES:
        if code.lower() == wanted:
            return code
    prefix = wanted.split("-")[0]
    for code in SUPPORTED_LANGUAGES:
        if code.lower().split("-")[0] == prefix:
            return code
    return ENGLISH


def catalog_stem(code: str) -> str:
    """The file name (no suffix) of a language's catalogue: ``pmdesk_nl_BE``."""
    return "pmdesk_" + code.replace("-", "_")


@dataclass(frozen=True)
class Catalog:
    """One language's finished translations, read from its ``.ts`` source (no Qt needed)."""

    language: str
    messages: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def text(self, value: str) -> str:
        """``value`` in this language: a :class:`Text` is translated with its arguments (each
        argument that is itself a Text too); a plain string stays as it is."""
        if not isinstance(value, Text):
            return str(value)
        pattern = self.messages.get((value.context, value.source), value.source)
        if not value.args:
            return pattern
        args = {k: self.text(v) if isinstance(v, Text) else v for k, v in value.args.items()}
        return pattern.format(**args)


def load_catalog(language: str, folder: Path = I18N_DIR) -> Catalog:
    """The catalogue for ``language``; English (or a missing file) translates nothing."""
    return _load_catalog(language_code(language), folder)


@cache
def _load_catalog(code: str, folder: Path) -> Catalog:
    source = folder / f"{catalog_stem(code)}.ts"
    if code == ENGLISH or not source.is_file():
        return Catalog(code)
    # Unfinished, obsolete or vanished ones are left out: English is better than stale.
    messages = {(m.context, m.source): m.text for m in read_ts(source) if m.finished}
    return Catalog(code, messages)


@dataclass(frozen=True)
class TsMessage:
    """One message of a ``.ts`` file: finished when its translation is neither marked
    (unfinished, obsolete, vanished) nor empty."""

    context: str
    source: str
    text: str
    finished: bool


def read_ts(path: Path) -> list[TsMessage]:
    """Every message of a Qt ``.ts`` translation source (no Qt needed: it is XML)."""
    import xml.etree.ElementTree as ElementTree  # only when a catalogue is read

    found = []
    for context in ElementTree.parse(path).getroot().iter("context"):  # noqa: S314 - our own
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            translation = message.find("translation")
            text = (translation.text or "") if translation is not None else ""
            marked = translation is None or bool(translation.get("type"))
            found.append(
                TsMessage(name, message.findtext("source") or "", text, not marked and bool(text))
            )
    return found
