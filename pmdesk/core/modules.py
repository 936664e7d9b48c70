"""The permission modules, with stable keys (the seed's permission grid)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pmdesk.core.i18n import translate


class Action(StrEnum):
    READ = "read"
    EDIT = "edit"
    DELETE = "delete"


@dataclass(frozen=True)
class Module:
    key: str
    name: str


JOB = Module("job", translate("modules", "Job"))
INVOICING = Module("invoicing", translate("modules", "Invoicing"))
WORKSHOP = Module("workshop", translate("modules", "Workshop"))
MAINTENANCE = Module("maintenance", translate("modules", "Maintenance"))
PLANNING = Module("planning", translate("modules", "Planning"))
CAR_FLEET = Module("car_fleet", translate("modules", "Car Fleet"))
REPORT = Module("report", translate("modules", "Report"))
SYSTEM = Module("system", translate("modules", "System"))
SYSTEM_CUSTOM_FIELDS = Module(
    "system.custom_fields", translate("modules", "System → Custom Fields")
)
SYSTEM_LOG = Module("system.log", translate("modules", "System → Log"))
SYSTEM_SHORTCUT = Module("system.shortcut", translate("modules", "System → Shortcut"))
SYSTEM_VAULT = Module("system.vault", translate("modules", "System → Vault"))
SYSTEM_SECURITY = Module("system.security", translate("modules", "System → Security"))

MODULES: tuple[Module, ...] = (
    JOB,
    INVOICING,
    WORKSHOP,
    MAINTENANCE,
    PLANNING,
    CAR_FLEET,
    REPORT,
    SYSTEM,
    SYSTEM_CUSTOM_FIELDS,
    SYSTEM_LOG,
    SYSTEM_SHORTCUT,
    SYSTEM_VAULT,
    SYSTEM_SECURITY,
)
MODULE_KEYS = frozenset(m.key for m in MODULES)
ADMINISTRATOR_GROUP = "Administrator"

LANGUAGES: tuple[tuple[str, str], ...] = (
    ("en-GB", "English (United Kingdom)"),
    ("nl-BE", "Nederlands (België)"),
    ("fr-BE", "Français (Belgique)"),
)
