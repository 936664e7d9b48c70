"""The Hourly Cost box written and read the app's language's way: "12.50" in English,
"12,50" in Dutch and French.

The core stores and checks the amount (``pmdesk.core.validation.clean_money``), which reads
"12.50", and "12,50" when no point is in it. The box shows the stored amount with the
language's decimal sign, and hands the core what was typed with the group signs taken out and
a decimal point: "1.234,50" in Dutch is given as "1234.50". Whatever does not read as an amount
goes as typed, so that the core says what is wrong with it.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QLocale

_STORED = re.compile(r"[0-9]+\.[0-9]{2}")
_AMOUNT = re.compile(r"[0-9]+(?:[.,][0-9]+)*")


def hourly_cost_text(stored: str) -> str:
    """The stored amount ("1234.50") as the box shows it in the app's language ("1234,50")."""
    if not _STORED.fullmatch(stored):
        return stored
    return stored.replace(".", QLocale().decimalPoint())


def hourly_cost_value(typed: str, written_in: QLocale | None = None) -> str:
    """What the user typed in the box as the core reads it ("12,50" in Dutch -> "12.50"), read
    in ``written_in`` (the app's language by default: a language switch reads the box in the
    language it was typed in)."""
    text = typed.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    if not _AMOUNT.fullmatch(text):
        return typed
    decimal = (written_in or QLocale()).decimalPoint()
    group = "." if decimal == "," else ","
    whole, cents = _split(text, decimal)
    if not re.fullmatch(rf"[0-9]+|[0-9]{{1,3}}(?:{re.escape(group)}[0-9]{{3}})+", whole):
        return typed  # "1,234.50" or "1.2.3" in Dutch: not an amount the language writes
    return whole.replace(group, "") + (f".{cents}" if cents else "")


def _split(text: str, decimal: str) -> tuple[str, str]:
    """The whole part and the decimals. The last sign marks the decimals when it is the
    language's decimal sign, or when one or two digits follow it ("12.5" typed in Dutch is
    12.50: nobody groups by one or two digits)."""
    last = max(text.rfind("."), text.rfind(","))
    if last < 0:
        return text, ""
    tail = text[last + 1 :]
    if text[last] == decimal or len(tail) <= 2:
        return text[:last], tail
    return text, ""


def hourly_cost_placeholder() -> str:
    """ "0.00" or "0,00"."""
    return hourly_cost_text("0.00")
