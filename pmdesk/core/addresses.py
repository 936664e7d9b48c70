"""Client addresses: normalised, and what the database server sees."""

from __future__ import annotations

import ipaddress
import re
import socket

from pmdesk.core.i18n import Text, translate


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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SEPARATORS = re.compile(r"[\s,;]+")


def parse_address_list(text: str) -> list[Network]:
    """Each entry of a comma, semicolon or space separated list as a network (a single
    address is a /32 or /128). ValueError names the first entry that is neither an IP address
    nor a CIDR network such as 10.1.0.0/24."""
    found: list[Network] = []
    for entry in _SEPARATORS.split(text or ""):
        if not entry:
            continue
        if "/" not in entry:
            try:
                ipaddress.ip_address(entry)
            except ValueError:
                raise ValueError(_not_a_network(entry)) from None
            network: Network = ipaddress.ip_network(normalise_address(entry) or entry)
        else:
            network = parse_network(entry)
            if isinstance(network, ipaddress.IPv6Network):
                mapped = network.network_address.ipv4_mapped
                if mapped is not None and network.prefixlen >= 96:
                    network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        if network not in found:
            found.append(network)
    return found


def parse_network(entry: str) -> Network:
    """A CIDR network such as 10.1.0.0/24; ValueError says what is wrong, and suggests the
    network address when host bits are set."""
    try:
        return ipaddress.ip_network(entry, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(_not_a_network(entry)) from None
        raise ValueError(
            translate("addresses", "'{entry}' has host bits set: did you mean {network}?").format(
                entry=entry[:60], network=str(loose)
            )
        ) from None


def _not_a_network(entry: str) -> Text:
    return translate(
        "addresses", "'{entry}' is not an IP address or a network (10.1.0.0/24)."
    ).format(entry=entry[:60])


def address_list_text(networks: list[Network]) -> str:
    """The canonical text of a parsed list: single addresses without /32 or /128."""
    return ", ".join(str(n.network_address) if n.num_addresses == 1 else str(n) for n in networks)


def in_address_list(address: str, networks: list[Network]) -> bool:
    """Whether the (normalised) address lies in any of the networks."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed.version == n.version and parsed in n for n in networks)
