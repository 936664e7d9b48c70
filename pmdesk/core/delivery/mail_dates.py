"""Times in a mail, the recipient's language's way, without Qt (the relay and the command
line load none): "3 Dec 2026 14:05:09", "3 dec. 2026 14:05:09", "3 déc. 2026 14:05:09".

The pattern is the app's (``pmdesk.ui.system.common.DATE_TIME_PATTERN``, "d MMM yyyy HH:mm"),
the short month names CLDR's, as QLocale writes them on the screens.
"""

from __future__ import annotations

from datetime import datetime

from pmdesk.core.i18n import language_code

_MONTHS: dict[str, tuple[str, ...]] = {
    "en-GB": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec"),
    "nl-BE": (
        "jan",
        "feb",
        "mrt",
        "apr",
        "mei",
        "jun",
        "jul",
        "aug",
        "sep",
        "okt",
        "nov",
        "dec",
    ),
    "fr-BE": (
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ),
}


def mail_time(moment: datetime, language: str, *, seconds: bool = False) -> str:
    """``moment`` (as it is: no time zone is changed) as "2 déc. 2026 14:05" in ``language``."""
    month = _MONTHS[language_code(language)][moment.month - 1]
    clock = f"{moment:%H:%M:%S}" if seconds else f"{moment:%H:%M}"
    return f"{moment.day} {month} {moment.year} {clock}"
