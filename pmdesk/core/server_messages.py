"""A hardened server's refusal in the reader's language (docs/i18n.md).

The server's functions raise the client's own English sentences (pmdesk/core/server/*_sql.py
is written from the same constants), filled in on the server. ``as_text`` finds which of the
core's translatable sentences a message is, with its fields, so that the desktop app shows it
translated like the same refusal made on the client; an unknown message stays as it is.
"""

from __future__ import annotations

import re
from functools import cache

from pmdesk.core.i18n import Text, load_catalog, translate

#: The contexts of the core's sentences (``translate("<module>", …)`` in pmdesk/core).
CORE_CONTEXTS = frozenset(
    {
        "addresses",
        "audit",
        "auth",
        "db",
        "delivery",
        "errors",
        "groups",
        "helpdesk",
        "language",
        "lockout",
        "login_results",
        "migrate",
        "modules",
        "office_networks",
        "passwords",
        "permissions",
        "personnel",
        "security",
        "server",
        "sessions",
        "trusted_ip_review",
        "trusted_ips",
        "validation",
    }
)
#: Sentences only a hardened server says (pmdesk/core/server/*_sql.py), marked here so that
#: they are in the catalogue: its refusals to write (``refuse_write``) and checks of its own.
SERVER_SENTENCES = (
    translate("server", "Your user group may not {doing}."),
    translate("server", "add this person"),
    translate("server", "change System → Security"),
    translate("server", "change sign-in counters"),
    translate("server", "change the log"),
    translate("server", "change the office networks"),
    translate("server", "change this person"),
    translate("server", "change user groups or their rights"),
    translate("server", "delete this person"),
    translate("server", "put back the trusted addresses of this person"),
    translate("server", "put back trusted addresses"),
    translate("server", "record deliveries"),
    translate("server", "remove this trusted address"),
    translate("server", "trust an address for this person"),
    translate("server", "Your user group may not read System → Security."),
    translate("server", "Your user group may not issue or cancel helpdesk codes."),
    translate("server", "The helpdesk mailbox must be one e-mail address."),
    translate(
        "server", "The reason can have at most {count} characters, and no control characters."
    ),
)
# Any catalogue lists every source (the translations do not matter here).
_SOURCES_FROM = "nl-BE"
_FIELD = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"[^\W\d_]{2,}")
_MIN_FIXED_WORDS = 3
#: Fields that always hold a number.
_NUMBERS = frozenset(
    {"count", "low", "high", "seconds", "minutes", "hours", "first", "last", "total", "interval"}
)


def as_text(message: str) -> str:
    """``message`` as the core's :class:`Text` it spells (its fields read back, each one a
    Text too when it is one of the core's sentences or words), or ``message`` itself.

    A whole message is matched only against sentences with some words of their own: one that
    is mostly fields ("{module} {right}") would take any message, and translate its pieces
    into a sentence of two languages. Inside a matched sentence's fields every pattern counts
    ("System → Security and Permissions (System)" is "{one} and {other}")."""
    if isinstance(message, Text):
        return message
    return _read(message, whole=True)


def _read(message: str, *, whole: bool) -> str:
    plain, patterns = _known()
    if message in plain:
        return plain[message]
    for pattern, context, source, specific in patterns:
        if whole and not specific:
            continue
        found = pattern.fullmatch(message)
        if found is not None:
            args = {name: _read(value, whole=False) for name, value in found.groupdict().items()}
            return Text(context, source, args)
    return message


@cache
def _known() -> tuple[dict[str, Text], list[tuple[re.Pattern[str], str, str, bool]]]:
    plain: dict[str, Text] = {}
    patterns: list[tuple[re.Pattern[str], str, str, bool]] = []
    for context, source in load_catalog(_SOURCES_FROM).messages:
        if context not in CORE_CONTEXTS:
            continue
        if _FIELD.search(source) is None:
            plain.setdefault(source, Text(context, source))
        else:
            specific = len(_WORD.findall(_FIELD.sub("", source))) >= _MIN_FIXED_WORDS
            patterns.append((_pattern(source), context, source, specific))
    # The most specific first: the longest fixed text.
    patterns.sort(key=lambda item: -len(_FIELD.sub("", item[2])))
    return plain, patterns


def _pattern(source: str) -> re.Pattern[str]:
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for field in _FIELD.finditer(source):
        parts.append(re.escape(source[position : field.start()]))
        name = field.group(1)
        value = "[0-9]+" if name in _NUMBERS else ".+?"
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{value})")
        seen.add(name)
        position = field.end()
    parts.append(re.escape(source[position:]))
    return re.compile("".join(parts), re.DOTALL)
