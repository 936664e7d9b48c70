"""The three roles of a hardened database, named from one prefix (roles are cluster-wide)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pmdesk.core.errors import PmdeskError

DEFAULT_PREFIX = "pmdesk"
#: The schema that holds pmdesk's objects, and the one that holds pgcrypto.
SCHEMA = "pmdesk"
CRYPTO_SCHEMA = "pmdesk_crypto"
# Lower case, so that the names need no quoting; short enough for "_workstation" (63 bytes).
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,39}")


class InvalidRolePrefix(PmdeskError):
    pass


@dataclass(frozen=True)
class Roles:
    prefix: str

    @classmethod
    def from_prefix(cls, prefix: str) -> Roles:
        if not _PREFIX.fullmatch(prefix or ""):
            raise InvalidRolePrefix(
                f"'{prefix[:40]}' cannot prefix role names: use 1 to 40 lower-case letters, "
                "digits and _, starting with a letter."
            )
        return cls(prefix)

    @property
    def owner(self) -> str:
        return f"{self.prefix}_owner"

    @property
    def workstation(self) -> str:
        return f"{self.prefix}_workstation"

    @property
    def relay(self) -> str:
        return f"{self.prefix}_relay"

    @property
    def logins(self) -> tuple[str, str]:
        return (self.workstation, self.relay)

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.owner, self.workstation, self.relay)


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted (for names read from the catalogs)."""
    return '"' + name.replace('"', '""') + '"'
