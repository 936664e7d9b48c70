"""Saving the trust box (trust period, code lifetime, never-trusted list, session length).

A shorter trust period ends the trust of addresses trusted longer ago than the new period: it
is previewed first ("3 addresses stop being trusted, 2 people affected") and asked, as a change
of the trust policy or of the office networks is (issue 16 §7). A longer period, or any other
field, saves at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QWidget

from pmdesk.core.context import Actor
from pmdesk.core.office_networks import TrustImpact
from pmdesk.core.security import SecurityService, SecuritySettingsView
from pmdesk.ui.message_boxes import ask
from pmdesk.ui.ops import Operation
from pmdesk.ui.system.common import local_number
from pmdesk.ui.system.trust_box import TrustBox
from pmdesk.ui.translation import localize

translate = QCoreApplication.translate


def impact_effect(impact: TrustImpact) -> str:
    """The sentence under a question whose answer may end trust given today (the core's
    words for the count, ``TrustImpact.describe``, in the app's language)."""
    if impact.addresses == 0:
        return translate("TrustImpact", "No trusted address is affected.")
    return translate("TrustImpact", "{effect}: their next sign-in asks for a code.").format(
        effect=localize(impact.describe())
    )


class TrustSaving:
    """The trust box's Save: preview a shorter period, ask, then save on the shown version."""

    def __init__(
        self,
        parent: QWidget,
        box: TrustBox,
        service: SecurityService,
        actor: Actor,
        *,
        preview: Operation[Any],
        saving: Operation[Any],
        saved: Callable[[SecuritySettingsView], None],
    ) -> None:
        self._parent, self._box, self._service, self._actor = parent, box, service, actor
        self._preview, self._saving, self._saved = preview, saving, saved

    @property
    def running(self) -> bool:
        return self._preview.running or self._saving.running

    def save(self, settings: SecuritySettingsView) -> None:
        service, actor, version = self._service, self._actor, settings.version
        values = self._box.values()
        days = values["trust_days"]

        def write() -> SecuritySettingsView:
            return service.update(actor, version, **values)

        if days >= settings.trust_days:
            self._write(write)
            return
        self._preview.run(
            lambda: service.impact_of_trust_days(actor, days),
            lambda impact: self._confirm(settings.trust_days, days, impact, write),
        )

    def _confirm(
        self,
        before: int,
        days: int,
        impact: TrustImpact,
        write: Callable[[], SecuritySettingsView],
    ) -> None:
        ask(
            self._parent,
            translate("TrustSaving", "Shorten the trust period"),
            translate("TrustSaving", "Trust addresses for {days} days instead of {before}?").format(
                days=local_number(days), before=local_number(before)
            ),
            translate("TrustSaving", "Shorten"),
            lambda: self._write(write),
            danger=impact.addresses > 0,
            informative=impact_effect(impact),
        )

    def _write(self, write: Callable[[], SecuritySettingsView]) -> None:
        def done(view: SecuritySettingsView) -> None:
            self._saved(view)
            self._box.trust_message.show_success(translate("TrustSaving", "Saved."))

        self._saving.run(write, done)
