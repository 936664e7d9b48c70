"""What Personnel's form offers besides Save: delete the person, unlock them, sign them out
everywhere, remove a trusted address of theirs, issue or cancel their helpdesk code.

Each asks first where it cannot be undone, runs as one ``Operation`` of the page (its spinner,
the form's message), and says in the form's message what it did. What the page does next (read
the list again, the person's lock state and addresses) is in ``AfterAction``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QWidget

from pmdesk.core.changes import PERSONNEL, TRUSTED_IPS
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import NotFound
from pmdesk.core.helpdesk import HelpdeskCodeService, IssuedCode
from pmdesk.core.personnel import PersonnelService, PersonRecord
from pmdesk.core.sessions import SessionService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.message_boxes import ask
from pmdesk.ui.ops import Operations
from pmdesk.ui.personnel.form import PersonEditor
from pmdesk.ui.personnel.helpdesk_dialog import HelpdeskCodeDialog
from pmdesk.ui.system.common import local_number

translate = QCoreApplication.translate


@dataclass(frozen=True)
class AfterAction:
    """The page's part: ``refresh_list()``, ``refresh_extras(person_id)`` (lock state, trusted
    addresses, sessions; what is typed stays), ``deleted(record)``, and ``gone(exc)`` when the
    person was deleted meanwhile."""

    refresh_list: Callable[[], None]
    refresh_extras: Callable[[int], None]
    deleted: Callable[[PersonRecord], None]
    gone: Callable[[NotFound], None]


class PersonActions:
    """Delete, Unlock, End sessions and remove trusted addresses for the form's person."""

    def __init__(
        self,
        page: QWidget,
        editor: PersonEditor,
        core: CoreContext,
        service: PersonnelService,
        actor: Actor,
        ops: Operations,
        after: AfterAction,
        *,
        can_edit: bool,
        can_delete: bool,
    ) -> None:
        """``can_edit``: Unlock (Maintenance Edit); ``can_delete``: Delete (Maintenance
        Delete). Ending sessions and removing addresses the core decides (one's own sessions,
        System → Security Delete)."""
        self._can_edit = can_edit
        self._can_delete = can_delete
        self._page = page
        self._editor = editor
        self._core = core
        self._service = service
        self._actor = actor
        self._ops = ops
        self._after = after
        # The busy texts are given at each run, in the language of the moment.
        gone = {NotFound: after.gone}
        self.deleting = ops.make("delete person", busy_text="", handle=gone, announces={PERSONNEL})
        self.unlocking = ops.make("unlock", busy_text="", handle=gone)
        self.ending_sessions = ops.make("end sessions", busy_text="", handle=gone)
        self.removing_ips = ops.make(
            "remove trusted IPs", busy_text="", handle=gone, announces={TRUSTED_IPS}
        )
        self.cancelling_code = ops.make("cancel helpdesk code", busy_text="")
        self.code_dialog: HelpdeskCodeDialog | None = None
        editor.helpdesk_row.issue_requested.connect(self.issue_helpdesk_code)
        editor.helpdesk_row.cancel_requested.connect(self.cancel_helpdesk_code)

    def _person(self) -> PersonRecord | None:
        """The person in the form, when no operation of the page is running."""
        return None if self._ops.busy else self._editor.record

    def _say(self, text: str) -> None:
        self._editor.message.show_success(text)

    def delete(self) -> None:
        record = self._person()
        if record is None or not self._can_delete:
            return
        service, actor = self._service, self._actor

        def deleted(_none: object) -> None:
            self._after.deleted(record)

        ask(
            self._page,
            translate("PersonActions", "Delete person"),
            translate("PersonActions", "Delete {name}?").format(name=record.display_name),
            translate("PersonActions", "Delete"),
            lambda: self.deleting.run(
                lambda: service.delete(actor, record.id, record.version),
                deleted,
                busy_text=translate("PersonActions", "Deleting…"),
            ),
            danger=True,
            informative=translate(
                "PersonActions",
                "Their login and trusted IP addresses are removed too. This cannot be undone.",
            ),
        )

    def unlock(self) -> None:
        record = self._person()
        if record is None or not self._can_edit:
            return
        service, actor = self._service, self._actor

        def done(_none: object) -> None:
            self._say(
                translate("PersonActions", "{name} can sign in again.").format(
                    name=record.display_name
                )
            )
            self._after.refresh_list()
            self._after.refresh_extras(record.id)

        self.unlocking.run(
            lambda: service.unlock(actor, record.id),
            done,
            busy_text=translate("PersonActions", "Unlocking…"),
        )

    def end_sessions(self) -> None:
        record = self._person()
        if record is None:
            return
        sessions, actor = SessionService(self._core), self._actor

        def done(ended: int) -> None:
            self._say(
                translate(
                    "PersonActions", "{name} is signed out everywhere ({n} sessions ended)."
                ).format(name=record.display_name, n=local_number(ended))
            )
            self._after.refresh_extras(record.id)

        ask(
            self._page,
            translate("PersonActions", "End sessions"),
            translate("PersonActions", "Sign {name} out everywhere?").format(
                name=record.display_name
            ),
            translate("PersonActions", "End sessions"),
            lambda: self.ending_sessions.run(
                lambda: sessions.end_for_person(actor, record.id),
                done,
                busy_text=translate("PersonActions", "Ending sessions…"),
            ),
            danger=True,
            informative=translate(
                "PersonActions",
                "Their desktop apps return to the login dialog within a minute, and their "
                "command-line sessions stop working. They can sign in again.",
            ),
        )

    def remove_trusted_ips(self, ids: list[int]) -> None:
        record = self._person()
        if record is None or not ids:
            return
        trusted, actor = TrustedIpService(self._core), self._actor

        def done(_result: object) -> None:
            self._say(translate("PersonActions", "Trusted address removed."))
            self._after.refresh_extras(record.id)

        ask(
            self._page,
            translate("PersonActions", "Remove trusted address"),
            translate("PersonActions", "Remove this trusted address of {name}?").format(
                name=record.display_name
            ),
            translate("PersonActions", "Remove"),
            lambda: self.removing_ips.run(
                lambda: trusted.remove_for_person(actor, record.id, ids),
                done,
                busy_text=translate("PersonActions", "Removing…"),
            ),
            danger=True,
            informative=translate(
                "PersonActions", "Logins from there will need a security code again."
            ),
        )

    def issue_helpdesk_code(self) -> None:
        """The dialog asks for the reason and minutes, issues on a worker and shows the code
        once; errors go next to its fields or under them."""
        record = self._person()
        if record is None:
            return
        desk, actor = HelpdeskCodeService(self._core), self._actor
        dialog = HelpdeskCodeDialog(record.display_name, self._page)
        issuing = self._ops.make(
            "issue helpdesk code",
            message=dialog.message,
            fields=dialog.set_errors,
            busy=dialog.set_busy,
            busy_text=translate("PersonActions", "Issuing…"),
            after_failure=None,
        )

        def issue(reason: str, minutes: int) -> None:
            issuing.run(lambda: desk.issue(actor, record.id, reason, minutes), issued)

        def issued(code: IssuedCode) -> None:
            dialog.show_code(code)
            self._after.refresh_extras(record.id)

        dialog.issue_requested.connect(issue)

        def closed(_result: int) -> None:
            issuing.cancel()
            dialog.deleteLater()

        dialog.finished.connect(closed)
        self.code_dialog = dialog
        dialog.open()

    def cancel_helpdesk_code(self) -> None:
        record = self._person()
        if record is None:
            return
        desk, actor = HelpdeskCodeService(self._core), self._actor

        def done(_live: bool) -> None:
            self._say(
                translate("PersonActions", "The helpdesk code of {name} is cancelled.").format(
                    name=record.display_name
                )
            )
            self._after.refresh_extras(record.id)

        ask(
            self._page,
            translate("PersonActions", "Cancel helpdesk code"),
            translate("PersonActions", "Cancel the helpdesk code of {name}?").format(
                name=record.display_name
            ),
            translate("PersonActions", "Cancel code"),
            lambda: self.cancelling_code.run(
                lambda: desk.cancel(actor, record.id),
                done,
                busy_text=translate("PersonActions", "Cancelling…"),
            ),
            danger=True,
            informative=translate(
                "PersonActions", "It stops working at once. You can issue a new one."
            ),
            cancel_text=translate("PersonActions", "Keep it"),
        )
