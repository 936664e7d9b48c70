"""System → Security: connection security, two-step authentication, trust, lockout, delivery and
the trusted IPs ("Status: Off" with "Turn on…", a red remove icon per row, "Viewing items 1-20
of N" with Previous / Next), and this workstation's address as seen. Panels, each a module:
security_status, two_step, trust_box, office_networks_box, lockout_box and locked_now_box (these
three with operations of their own), mail_settings, trusted_ips_panel. The page holds the state
and the other operations (pmdesk.ui.ops); the panels show and ask. Turning two-step login on
first lists who could not receive a code (readiness) and asks. The buttons follow the group's
rights, and the services check again."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from pmdesk.core.changes import SECURITY_SETTINGS, TRUSTED_IPS
from pmdesk.core.modules import SYSTEM_SECURITY, Action
from pmdesk.core.office_networks import OfficeNetworkService
from pmdesk.core.screens import DeliverySaved, SecurityState, save_delivery, security_state
from pmdesk.core.security import (
    ConnectionStatus,
    SecurityService,
    SecuritySettingsView,
    ShutOutPerson,
    ShutOutWarning,
    TestSent,
)
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.message_boxes import ask, ask_discard
from pmdesk.ui.ops import Conflict, Operations, indicator
from pmdesk.ui.scrolling import follow_focus, reveal
from pmdesk.ui.system.locked_now_box import lockout_panels
from pmdesk.ui.system.mail_settings import MailSettingsBox
from pmdesk.ui.system.office_networks_box import OfficeNetworksBox
from pmdesk.ui.system.readiness import ReadinessDialog
from pmdesk.ui.system.security_status import ConnectionStatusBox
from pmdesk.ui.system.trace_dialog import TraceDialog
from pmdesk.ui.system.trust_box import TrustBox
from pmdesk.ui.system.trust_saving import TrustSaving
from pmdesk.ui.system.trusted_ips_panel import TrustedIpPanel
from pmdesk.ui.system.two_step import TwoStepBox
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import MessageLabel

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageContext


FILTER_DELAY_MS = 300
REFRESH_DELAY_MS = 250
ROW_HEIGHT = 28
LEFT_WIDTH = 480


class SecurityPage(Retranslating, QWidget):
    """System → Security."""

    #: The trusted IP table shows a fresh page (after a reload, a filter, paging or a removal).
    trusted_ips_shown = Signal()

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("securityPage")
        self.context = context
        self.core = context.app.context
        self.tasks = context.tasks
        self.actor = context.session.actor
        self.service = SecurityService(self.core)
        self.ip_service = TrustedIpService(self.core)
        self.can_edit = context.session.can(SYSTEM_SECURITY, Action.EDIT)
        self.can_delete = context.session.can(SYSTEM_SECURITY, Action.DELETE)
        self.settings: SecuritySettingsView | None = None  # shown; saved on their version
        self.status: ConnectionStatus | None = None  # shown; the readiness dialog's method
        self.readiness_dialog: ReadinessDialog | None = None

        self.message = MessageLabel(self)
        self.message.setObjectName("securityMessage")
        self.left_scroll = self._build_left()
        self.ips = self._build_ips()
        columns = QHBoxLayout()
        columns.setSpacing(10)  # 10 and 10 (not 14): the page fits a 1024 px screen
        columns.addWidget(self.left_scroll)
        columns.addWidget(self.ips, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 12)
        layout.setSpacing(8)
        layout.addWidget(self.message)
        layout.addLayout(columns, 1)

        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh_trusted_ips)
        self._build_operations()
        self._connect_background()

        self.trust.set_editable(False)
        self.mail_box.set_editable(False)
        self._update_buttons()
        self.load_state()
        self.ips.model.load_first()

    def retranslate(self) -> None:
        """The panels retranslate themselves; the page's own texts depend on the state."""
        self._update_buttons()

    def _build_left(self) -> QScrollArea:
        """The panels left of the trusted IPs, top to bottom, in a scroll area."""
        self.status_box = ConnectionStatusBox(self)
        # Tests and the screenshots read these lines, and the switch below, from the page.
        self.database_status = self.status_box.database_status
        self.mail_status = self.status_box.mail_status
        self.address_label = self.status_box.address_label

        self.two_step = TwoStepBox(self)
        self.two_step.toggle_requested.connect(self.toggle_two_factor)
        self.two_factor_button = self.two_step.two_factor_button
        self.two_factor_state = self.two_step.two_factor_state

        self.trust = TrustBox(self)
        self.trust.edited.connect(self._update_buttons)
        self.trust.save_requested.connect(self.save_trust_settings)
        self.networks_box = OfficeNetworksBox(
            OfficeNetworkService(self.core), self.service, self.actor, self.tasks,
            can_edit=self.can_edit, changes=self.context.changes, parent=self,
        )  # fmt: skip
        self.networks_box.settings_saved.connect(self._policy_saved)
        self.lockout_box, self.locked_box = lockout_panels(self.context, self._policy_saved, self)

        health = partial(self.service.delivery_health, self.actor)
        self.mail_box = MailSettingsBox(self.tasks, health, self)
        self.mail_box.save_requested.connect(self.save_delivery)
        self.mail_box.test_requested.connect(self.send_test)
        left_holder = QWidget(self)
        left_holder.setObjectName("securityLeft")
        left_layout = QVBoxLayout(left_holder)
        left_layout.setContentsMargins(0, 0, 8, 0)
        left_layout.setSpacing(12)
        left_layout.addWidget(self.status_box)
        left_layout.addWidget(self.two_step)
        left_layout.addWidget(self.trust)
        left_layout.addWidget(self.networks_box)
        left_layout.addWidget(self.lockout_box)
        left_layout.addWidget(self.locked_box)
        left_layout.addWidget(self.mail_box)
        left_layout.addStretch(1)
        left_scroll = follow_focus(QScrollArea(self))
        left_scroll.setObjectName("securityLeftScroll")
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QFrame.Shape.NoFrame)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setWidget(left_holder)
        left_scroll.setFixedWidth(LEFT_WIDTH)
        return left_scroll

    # ----- background updates -------------------------------------------------------------

    def _build_operations(self) -> None:
        """One ``Operation`` per action of the page (see pmdesk.ui.ops)."""
        settings_conflict = Conflict(
            self.load_state,
            self.tr(
                "Reload shows the settings as they are now saved; what you typed here is "
                "discarded. Keep my changes leaves them here, unsaved."
            ),
            self.message,
        )
        page = Operations(
            self,
            self.tasks,
            message=self.message,
            busy=indicator(self.two_step.two_factor_busy, self._update_buttons),
            changes=self.context.changes,
        )
        self.ops = page
        self.loading = page.make(
            "security", failure=self.tr("The security settings could not be loaded")
        )
        self.status_reading = page.make(
            "connection status", failure=self.tr("The connection status could not be read")
        )
        self.readiness_check = page.make(
            "readiness",
            busy_text=self.tr("Checking who can receive a code…"),
            failure=self.tr("The check did not work"),
        )
        self.two_factor_saving = page.make(
            "two-step",
            busy_text=self.tr("Saving…"),
            failure=self.tr("The change was not saved"),
            conflict=settings_conflict,
            # Someone lost their address meanwhile: show the new list and ask again.
            handle={ShutOutWarning: lambda exc: self._show_readiness(exc.people)},
        )
        trust_routes: dict[str, Any] = {
            "message": self.trust.trust_message,
            "busy": lambda _on, _text: self._update_buttons(),
            "fields": self.trust.set_errors,
            "after_failure": self._update_buttons,
        }
        self.trust_saving = TrustSaving(
            self, self.trust, self.service, self.actor,
            preview=page.make(
                "trust period impact",
                failure=self.tr("What the shorter period would end could not be read"),
                **trust_routes,
            ),
            saving=page.make(
                "trust settings", failure=self.tr("Not saved"), conflict=settings_conflict,
                **trust_routes,
            ),
            saved=self._trust_saved,
        )  # fmt: skip
        mail: dict[str, Any] = {"message": self.mail_box.message, "busy": self.mail_box.set_busy}
        self.delivery_saving = page.make(
            "save delivery",
            **mail,
            busy_text=self.tr("Saving…"),
            failure=self.tr("Not saved"),
            fields=self.mail_box.set_errors,
            invalid_text=self.tr("Not saved: correct the fields marked in red."),
            conflict=settings_conflict,
        )
        self.test_sending = page.make(
            "test",
            **mail,
            failure=self.tr("The test code could not be sent"),
            handle={Exception: self.mail_box.show_test_failure},  # with the step that failed
            after_failure=lambda: reveal(self.left_scroll, self.mail_box.message),
        )

    def _connect_background(self) -> None:
        """Follow the changes made on other workstations, by the sweep and by other pages."""
        self.context.changes.subscribe(self, {TRUSTED_IPS}, self.trusted_ips_changed_elsewhere)
        self.context.changes.subscribe(self, {SECURITY_SETTINGS}, self.settings_changed_elsewhere)

    def trusted_ips_changed_elsewhere(self, _tables: frozenset[str] = frozenset()) -> None:
        """Change-hub subscriber (trusted addresses changed elsewhere): reload the page on
        screen soon (bursts of notifications, e.g. from the expiry sweep, cause one reload)."""
        self._refresh_timer.start()

    def settings_changed_elsewhere(self, _tables: frozenset[str] = frozenset()) -> None:
        """Change-hub subscriber (the Security settings changed elsewhere)."""
        if self.has_unsaved_changes():
            self.message.show_notice(
                self.tr(
                    "The security settings were changed on another workstation. Your changes "
                    "here are not saved yet; reload (F5) to see theirs."
                )
            )
        else:
            self.load_state()

    def refresh(self) -> None:
        """Reload everything on the page (F5)."""
        if self.has_unsaved_changes():
            ask_discard(
                self,
                self.tr("Discard your changes to the security settings and reload?"),
                self._refresh_now,
                discard_text=self.tr("Discard and reload"),
            )
        else:
            self._refresh_now()

    def _refresh_now(self) -> None:
        self.load_state()
        self.refresh_trusted_ips()

    def refresh_trusted_ips(self) -> None:
        """Reload the page of trusted IPs on screen, keeping the selection where possible."""
        self._refresh_timer.stop()
        self.ips.reload()

    # ----- loading the settings -----------------------------------------------------------

    def load_state(self) -> None:
        core, actor = self.core, self.actor
        self.loading.run(lambda: security_state(core, actor), self._show_state)
        self.networks_box.load()
        self.locked_box.load()

    def _show_state(self, state: SecurityState) -> None:
        settings, status = state.settings, state.status
        self._show_settings(settings)
        self._show_status(status)
        self.mail_box.load(settings.delivery, state.secret, str(self.core.outbox_default))
        self.mail_box.set_editable(self.can_edit)

    def _show_settings(self, settings: SecuritySettingsView) -> None:
        """The toggle and the trust settings (the delivery form is loaded separately)."""
        self.settings = settings
        self.two_step.show_settings(settings, editable=self.can_edit)
        self.trust.load(settings, editable=self.can_edit)
        self.networks_box.show_settings(settings)
        self.lockout_box.show_settings(settings)
        self._update_buttons()

    def _policy_saved(self, settings: SecuritySettingsView) -> None:
        """A box saved the policy or the lockout: the new version; what is typed here stays."""
        if self._trust_dirty():
            self.settings = settings
        else:
            self._show_settings(settings)

    @property
    def loaded(self) -> bool:
        """The settings have been read (the page shows them)."""
        return self.settings is not None

    def _show_status(self, status: ConnectionStatus) -> None:
        self.status = status
        self.status_box.show_status(status)

    def has_unsaved_changes(self) -> bool:
        dirty = self._trust_dirty() or self.lockout_box.is_dirty()
        return dirty or (self.loaded and self.mail_box.is_dirty())

    def _trust_dirty(self) -> bool:
        settings = self.settings
        return settings is not None and self.trust.is_dirty(settings)

    # ----- two step authentication --------------------------------------------------------

    def toggle_two_factor(self) -> None:
        settings = self.settings
        if settings is None or not self.can_edit or self.ops.busy:
            return
        if settings.two_factor_enabled:
            ask(
                self,
                self.tr("Turn off two-step authentication"),
                self.tr("Turn two-step authentication off?"),
                self.tr("Turn off"),
                lambda: self._set_two_factor(False, accept=False),
                danger=True,
                informative=self.tr(
                    "A password alone will be enough to sign in, from any address."
                ),
            )
            return
        service, actor = self.service, self.actor
        self.readiness_check.run(lambda: service.readiness(actor), self._show_readiness)

    def _show_readiness(self, people: list[ShutOutPerson]) -> None:
        label = self.status.mail_label if self.status else ""
        dialog = ReadinessDialog(people, label, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.readiness_dialog = dialog

        def finished(_result: int) -> None:
            if self.readiness_dialog is dialog:
                self.readiness_dialog = None
            if dialog.choice:
                self._set_two_factor(True, accept=bool(people))

        dialog.finished.connect(finished)
        dialog.open()

    def _set_two_factor(self, enabled: bool, *, accept: bool) -> None:
        settings = self.settings
        if settings is None:
            return
        service, actor, version = self.service, self.actor, settings.version

        def done(view: SecuritySettingsView) -> None:
            self._show_settings(view)
            self.message.show_success(
                self.tr("Two-step authentication is on.")
                if view.two_factor_enabled
                else self.tr("Two-step authentication is off.")
            )

        self.message.clear_message()
        self.two_factor_saving.run(
            lambda: service.set_two_factor(actor, enabled, version, accept_shut_out=accept), done
        )

    # ----- trust days and code lifetime ---------------------------------------------------

    def save_trust_settings(self) -> None:
        settings = self.settings
        if settings is None or not self.can_edit or self.trust_saving.running:
            return
        if self._trust_dirty():
            self.trust_saving.save(settings)

    def _trust_saved(self, view: SecuritySettingsView) -> None:
        self._show_settings(view)
        self.refresh_trusted_ips()  # the Expires column follows the trust period

    # ----- code delivery ------------------------------------------------------------------

    def save_delivery(self) -> None:
        settings = self.settings
        if settings is None or not self.can_edit:
            return
        delivery = self.mail_box.delivery()
        secret = self.mail_box.secret_typed()
        core, actor, version = self.core, self.actor, settings.version

        def done(result: DeliverySaved) -> None:
            self._show_settings(result.settings)
            self.mail_box.mark_saved(result.settings.delivery, result.secret)
            if result.secret_problem:
                # What was typed stays in its field, with the keyring's message under it.
                self.mail_box.keep_secret(secret, result.secret_problem)
                self.mail_box.message.show_error(
                    self.tr(
                        "Settings saved, but the {what} was not stored in the keyring; it is "
                        "still in its field. Save again once the keyring works."
                    ).format(what=self.mail_box.secret_name())
                )
            else:
                self.mail_box.message.show_success(
                    self.tr("Saved. Send a test code to check it works.")
                )
            self._reload_status()

        self.mail_box.message.clear_message()
        self.delivery_saving.run(
            lambda: save_delivery(core, actor, delivery, version, secret), done
        )

    def _reload_status(self) -> None:
        service, actor = self.service, self.actor

        def done(status: ConnectionStatus) -> None:
            if self.loaded:
                self._show_status(status)

        self.status_reading.run(lambda: service.connection_status(actor), done)

    def send_test(self, address: str) -> None:
        if not address or not self.can_edit:
            return
        service, actor = self.service, self.actor

        def done(sent: TestSent) -> None:
            if sent.file is not None:
                text = self.tr("Test code for {to} written to {file}").format(
                    to=sent.destination, file=sent.file
                )
            else:
                text = self.tr("Test code sent to {to} ({how}).").format(
                    to=sent.destination, how=localize(sent.label)
                )
            self.mail_box.message.show_success(text)
            reveal(self.left_scroll, self.mail_box.message)

        self.mail_box.message.clear_message()
        self.test_sending.run(
            lambda: service.send_test_code(actor, address),
            done,
            busy_text=self.tr("Sending a test code to {to}…").format(to=address),
        )

    # ----- trusted IPs --------------------------------------------------------------------

    def _build_ips(self) -> TrustedIpPanel:
        ips = TrustedIpPanel(
            self.ip_service, self.actor, self.tasks, self.context.changes, self.can_delete, self,
            can_edit=self.can_edit,
        )  # fmt: skip
        ips.shown.connect(self.trusted_ips_shown)
        ips.reload_requested.connect(self.refresh)
        ips.trace_requested.connect(self.trace)
        # Used by the tests of other folders (tests/perf, tests/reliability).
        self.model, self.table, self.filter_edit = ips.model, ips.table, ips.filter_edit
        self.next_button, self.ip_message = ips.next_button, ips.ip_message
        self.paging_label, self.remove_delegate = ips.paging_label, ips.remove_delegate
        return ips

    def trace(self, address: str) -> TraceDialog:
        """Everyone and every event at ``address``, in a window of its own."""
        dialog = TraceDialog(self.core, self.actor, self.tasks, address, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # ----- buttons ------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        loaded = self.settings is not None
        self.two_factor_button.setEnabled(self.can_edit and loaded and not self.ops.busy)
        self.trust.trust_save_button.setEnabled(
            self.can_edit and loaded and not self.trust_saving.running and self._trust_dirty()
        )
        if not self.can_edit:
            self.trust.trust_save_button.setToolTip(
                self.tr("Your user group needs System → Security Edit to change this.")
            )
