"""Removing trusted IP addresses from System → Security's list, and putting them back: the
question first, the removal off the GUI thread, then a bar that offers Undo for a while (Undo
needs System → Security Edit; the core puts back only one's own removal, just now).

``TrustedIpRemoval`` is the list's base class; the list (``TrustedIpPanel``) builds the widgets
it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QGroupBox, QTableView

from pmdesk.core.changes import TRUSTED_IPS
from pmdesk.core.errors import PermissionDenied
from pmdesk.ui.errors import error_text
from pmdesk.ui.message_boxes import ask
from pmdesk.ui.ops import Operation, Operations
from pmdesk.ui.system.common import local_number

if TYPE_CHECKING:
    from pmdesk.core.context import Actor
    from pmdesk.core.trusted_ips import TrustedIpService
    from pmdesk.ui.page_context import ChangeHub
    from pmdesk.ui.system.trusted_ips_model import RemoveIconDelegate, TrustedIpModel
    from pmdesk.ui.system.undo_bar import UndoBar
    from pmdesk.ui.tasks import TaskManager
    from pmdesk.ui.widgets import MessageLabel


class TrustedIpRemoval(QGroupBox):
    """Remove, ask, Undo (see the module); the subclass shows the list."""

    ip_service: TrustedIpService
    actor: Actor
    can_delete: bool
    can_edit: bool
    model: TrustedIpModel
    table: QTableView
    ip_message: MessageLabel
    undo_bar: UndoBar
    remove_delegate: RemoveIconDelegate
    removing: Operation[int]
    restoring: Operation[int]
    _removed: list[int]
    _reselect: set[int]

    def selected_ids(self) -> list[int]:
        raise NotImplementedError

    def _update_buttons(self) -> None:
        raise NotImplementedError

    def _update_ip_busy(self) -> None:
        raise NotImplementedError

    def _build_operations(self, tasks: TaskManager, changes: ChangeHub) -> None:
        """Removing and putting back, each one at a time, announced to other screens."""
        ops = Operations(self, tasks, changes=changes)
        self.removing = ops.make(
            "remove",
            message=self.ip_message,
            failure=self.tr("Nothing was removed"),
            # Remove stays greyed while a removal runs: a second click would ask again.
            busy=lambda _on, _text: self._update_buttons(),
            handle={PermissionDenied: self._may_not_remove},
            announces={TRUSTED_IPS},
        )
        self.restoring = ops.make(
            "restore", message=self.ip_message, failure=self.tr("Nothing was put back"),
            busy=lambda _on, _text: self._update_buttons(), announces={TRUSTED_IPS},
        )  # fmt: skip

    def _remove_clicked(self, row: int) -> None:
        found = self.model.row_at(row)
        if found is not None:
            self.remove_rows([found.id])

    def remove_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.remove_rows(ids)

    def remove_rows(self, ids: list[int]) -> None:
        """Ask, then remove these trusted addresses (System → Security Delete)."""
        if not ids or self.removing.running:
            return
        if not self.can_delete:
            self.ip_message.show_error(
                self.tr(
                    "Your user group may not remove trusted addresses: it needs System → "
                    "Security Delete."
                )
            )
            return
        positions = [self.model.row_of(i) for i in ids]
        rows = [r for r in (self.model.row_at(p) for p in positions if p is not None) if r]
        if len(ids) == 1 and rows:
            row = rows[0]
            text = self.tr("Remove the trusted address {address} of {user}?").format(
                address=row.address, user=row.person_name or row.login
            )
        else:
            text = self.tr("Remove {n} trusted addresses?").format(n=local_number(len(ids)))
        service, actor = self.ip_service, self.actor
        wanted = list(ids)

        def confirmed() -> None:
            self.ip_message.clear_message()
            self.undo_bar.dismiss()
            self.removing.run(
                lambda: service.remove(actor, wanted, rows),  # rows: as shown (one round trip)
                lambda n: self._removed_done(wanted, n),
            )

        ask(
            self,
            self.tr("Remove trusted address"),
            text,
            self.tr("Remove"),
            confirmed,
            danger=True,
            informative=self.tr("Logins from there will need a security code again."),
        )

    def _removed_done(self, wanted: list[int], removed: int) -> None:
        """After a removal: Undo offered, or what was removed said; the page shown again."""
        if removed and self.can_edit:
            self._offer_undo(wanted, removed)
        if removed == len(wanted):
            if not self.can_edit:
                self.ip_message.show_success(
                    self.tr("1 trusted address removed.")
                    if removed == 1
                    else self.tr("{n} trusted addresses removed.").format(n=local_number(removed))
                )
        else:
            self.ip_message.show_notice(
                self.tr(
                    "{n} of {m} removed; the others were already gone (removed on "
                    "another workstation or expired)."
                ).format(n=local_number(removed), m=local_number(len(wanted)))
            )
        self._reselect = set()
        self.model.reload()
        self._update_ip_busy()

    def _offer_undo(self, ids: list[int], removed: int) -> None:
        self._removed = list(ids)
        self.undo_bar.offer(
            self.tr("Removed 1 trusted address.")
            if removed == 1
            else self.tr("Removed {n} trusted addresses.").format(n=local_number(removed)),
            self.tr("Undo: put back the addresses just removed"),
        )

    def _undo(self) -> None:
        """Put back what the last removal took (the core allows only one's own, just now)."""
        wanted, self._removed = self._removed, []
        if not wanted or self.restoring.running:
            return
        service, actor = self.ip_service, self.actor

        def done(restored: int) -> None:
            if restored:
                self.ip_message.show_success(
                    self.tr("1 trusted address put back.")
                    if restored == 1
                    else self.tr("{n} trusted addresses put back.").format(n=local_number(restored))
                )
            else:
                self.ip_message.show_notice(
                    self.tr("Nothing was put back: the time for Undo had passed.")
                )
            self._reselect = set(wanted)
            self.model.reload()
            self._update_ip_busy()

        self.ip_message.clear_message()
        self.restoring.run(lambda: service.restore(actor, wanted), done)

    def _may_not_remove(self, exc: PermissionDenied) -> None:
        self.ip_message.show_error(error_text(exc, self.tr("Nothing was removed")))
        self.remove_delegate.enabled = False
        self.table.viewport().update()
