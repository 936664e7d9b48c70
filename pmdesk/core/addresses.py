"""Client addresses: normalised, and what the database server sees."""

from __future__ import annotations

import ipaddress
import socket


def normalise_address(raw: str | None) -> str | None:
    """Canonical text of an IP address, or None when it is not one.

    ``::ffff:1.2.3.4`` becomes ``1.2.3.4``; a trailing ``:port`` on IPv4 and ``[v6]:port`` and
    scope ids are dropped; anything else (host names, garbage) is None, so it is never trusted.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1 and "." in text:
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return None
    return str(address)


def primary_outbound_address() -> str | None:
    """This machine's address on its default route (no packet is sent: UDP connect only)."""
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found = normalise_address(str(probe.getsockname()[0]))
        except OSError:
            continue
        if found is not None:
            return found
    return "127.0.0.1"
