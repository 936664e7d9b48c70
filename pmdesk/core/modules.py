"""The permission modules, with stable keys (the seed's permission grid)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    READ = "read"
    EDIT = "edit"
    DELETE = "delete"


@dataclass(frozen=True)
class Module:
    key: str
    name: str


JOB = Module("job", "Job")
INVOICING = Module("invoicing", "Invoicing")
WORKSHOP = Module("workshop", "Workshop")
MAINTENANCE = Module("maintenance", "Maintenance")
PLANNING = Module("planning", "Planning")
CAR_FLEET = Module("car_fleet", "Car Fleet")
REPORT = Module("report", "Report")
SYSTEM = Module("system", "System")
SYSTEM_CUSTOM_FIELDS = Module("system.custom_fields", "System → Custom Fields")
SYSTEM_LOG = Module("system.log", "System → Log")
SYSTEM_SHORTCUT = Module("system.shortcut", "System → Shortcut")
SYSTEM_VAULT = Module("system.vault", "System → Vault")
SYSTEM_SECURITY = Module("system.security", "System → Security")

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
