"""A form field's texts in the app's language (docs/i18n.md): its row label, which names it for
screen readers, its placeholder and help, set again when the language changes; and the core's
errors for it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from pmdesk.ui.translation import localize


def relabel(label: QLabel, text: str, editor: QWidget) -> None:
    """``text`` on a form row's label, which is the buddy and the spoken name of ``editor``
    (what ``pmdesk.ui.widgets.label_fields`` does once, done again in the new language)."""
    label.setText(text)
    label.setBuddy(editor)
    editor.setAccessibleName(text.replace("&", ""))


def describe(edit: QLineEdit, placeholder: str, help_text: str) -> None:
    """A line edit's example text and its help, as a tooltip and for screen readers."""
    edit.setPlaceholderText(placeholder)
    edit.setToolTip(help_text)
    edit.setAccessibleDescription(help_text)


def field_error(errors: Mapping[str, str], name: str) -> str | None:
    """The core's error for field ``name``, in the app's language (None: no error)."""
    error = errors.get(name)
    return localize(error) if error else None


def other_errors(errors: Mapping[str, str], shown: Iterable[str]) -> list[str]:
    """The core's errors that no field shows, in the app's language, for the message."""
    names = set(shown)
    return [localize(text) for name, text in errors.items() if name not in names]
