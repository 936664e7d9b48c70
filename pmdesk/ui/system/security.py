"""System → Security: connection security, two-step authentication, trusted IPs, code delivery.

As in the product: the connection status ("HTTPS/SSL status: On"; here the database link and the
mail link), two-step authentication's state ("Status: Off") with a button named for what it does
("Turn on…" / "Turn off…"), and the list of trusted IP addresses with a red remove icon on each
row, "Viewing items 1-20 of N" and Previous / Next. Also: a filter, removing several rows at
once, how long an address stays trusted and a code stays valid, how codes are delivered (with
"Send test code"), and this workstation's address as the database sees it.

Turning two-step authentication on first lists who could not receive a code (name, login, why)
and asks to confirm. Every service call runs on a worker thread; the buttons follow the signed-in
group's rights (Edit: settings and the toggle; Delete: removing addresses), and the services
check again and say so when they refuse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.changes import SECURITY_SETTINGS, TRUSTED_IPS
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.modules import SYSTEM_SECURITY, Action
from pmdesk.core.screens import DeliverySaved, SecurityState, save_delivery, security_state
from pmdesk.core.security import (
    CODE_TTL_MINUTES_RANGE,
    NEVER_TRUSTED_MAX_LENGTH,
    SESSION_HOURS_RANGE,
    TRUST_DAYS_RANGE,
    ConnectionStatus,
    SecurityService,
    SecuritySettingsView,
    ShutOutPerson,
    ShutOutWarning,
    TestSent,
)
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import app_icon, icon, pixmap
from pmdesk.ui.lists import ModelIndex, ReadOnlyTableModel, list_table, search_box
from pmdesk.ui.message_boxes import ask, ask_discard
from pmdesk.ui.ops import Conflict, Operations, indicator
from pmdesk.ui.scrolling import follow_focus
from pmdesk.ui.system.common import form_layout, pad_spin_box, spin_box_style
from pmdesk.ui.system.mail_settings import MailSettingsBox
from pmdesk.ui.system.trusted_ips_model import (
    ADDRESS,
    CREATED,
    EXPIRES,
    ID,
    REMOVE,
    ROW_ID_ROLE,
    USER,
    RemoveIconDelegate,
    TrustedIpModel,
    TrustedIpSource,
)
from pmdesk.ui.widgets import (
    BusyIndicator,
    FieldBox,
    MessageLabel,
    WrappingDialog,
    hint_label,
    label_fields,
    make_danger,
    make_primary,
    repolish,
)

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageContext


FILTER_DELAY_MS = 300
REFRESH_DELAY_MS = 250
ROW_HEIGHT = 28
LEFT_WIDTH = 480

_STATE_STYLE = {
    True: "font-weight: bold; color: #1d5e21;",
    False: "font-weight: bold; color: #33485f;",
}


# ----- the readiness report -------------------------------------------------------------------


class ShutOutModel(ReadOnlyTableModel):
    """Who would be shut out: Name, Login, Why."""

    TITLES = ("Name", "Login", "Why")

    def __init__(self, people: list[ShutOutPerson], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._people = list(people)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._people)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.TITLES)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.TITLES):
            return self.tr(self.TITLES[section])
        if orientation == Qt.Orientation.Vertical:
            return section + 1
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._people):
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        person = self._people[index.row()]
        values = (person.name, person.login, person.reason)
        return values[index.column()] if 0 <= index.column() < len(values) else None


class ReadinessDialog(WrappingDialog):
    """Before two-step authentication is turned on: who could not receive a code, and confirm.

    ``choice`` is True when the user confirmed; opened with ``open()`` (never blocking).
    """

    def __init__(
        self, people: list[ShutOutPerson], delivery_label: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("readinessDialog")
        self.setWindowTitle(self.tr("Turn on two-step authentication"))
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(600)
        self.people = list(people)
        self.choice = False
        n = len(people)

        image = QLabel(self)
        image.setPixmap(pixmap("warning" if people else "shield", 32, self.devicePixelRatioF()))
        image.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel(self)
        title.setObjectName("readinessTitle")
        title.setWordWrap(True)
        title.setStyleSheet("font-weight: bold;")
        explain = QLabel(self)
        explain.setObjectName("readinessText")
        explain.setWordWrap(True)
        if people:
            title.setText(
                self.tr("1 person could not receive a security code.")
                if n == 1
                else self.tr("{n} people could not receive a security code.").format(n=n)
            )
            explain.setText(
                self.tr(
                    "With two-step authentication on, they could no longer sign in from an "
                    "address that is not trusted. Codes go by: {delivery}."
                ).format(delivery=delivery_label)
            )
        else:
            title.setText(self.tr("Everyone who can sign in can receive a security code."))
            explain.setText(
                self.tr(
                    "From now on, signing in from an address that is not trusted asks for a "
                    "code sent by: {delivery}."
                ).format(delivery=delivery_label)
            )
        text_column = QVBoxLayout()
        text_column.setSpacing(6)
        text_column.addWidget(title)
        text_column.addWidget(explain)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(image)
        top.addLayout(text_column, 1)

        self.model = ShutOutModel(people, self)
        self.table = list_table(self, "shutOutTable", self.model, ROW_HEIGHT)
        self.table.setAccessibleName(self.tr("People who could not receive a code"))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.resizeSection(0, 180)
        header.resizeSection(1, 130)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        height = header.sizeHint().height() + ROW_HEIGHT * min(max(n, 1), 10) + 4
        self.table.setMinimumHeight(height)
        if n <= 10:
            self.table.setMaximumHeight(height)
        self.table.setVisible(bool(people))
        hint = hint_label(
            self.tr(
                "Give them an e-mail address (or a mobile number for SMS) in Maintenance → "
                "Personnel first, or turn it on anyway."
            ),
            self,
        )
        hint.setVisible(bool(people))

        buttons = QDialogButtonBox(self)
        confirm_text = self.tr("Enable anyway") if people else self.tr("Enable")
        self.confirm_button = buttons.addButton(
            confirm_text, QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.confirm_button.setObjectName("confirmButton")
        if people:
            make_danger(self.confirm_button)
        else:
            make_primary(self.confirm_button)
        repolish(self.confirm_button)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        (self.cancel_button if people else self.confirm_button).setDefault(True)
        buttons.accepted.connect(self._confirm)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 18, 18, 14)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addWidget(self.table, 1 if n > 10 else 0)
        layout.addWidget(hint)
        layout.addWidget(buttons)

    def _confirm(self) -> None:
        self.choice = True
        self.accept()


# ----- the page -------------------------------------------------------------------------------


class SecurityPage(QWidget):
    """System → Security."""

    #: The trusted IP table shows a fresh page (after a reload, a filter, paging or a removal).
    trusted_ips_shown = Signal()

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("securityPage")
        self.setStyleSheet(spin_box_style())
        self.context = context
        self.core = context.app.context
        self.tasks = context.tasks
        self.actor = context.session.actor
        self.service = SecurityService(self.core)
        self.ip_service = TrustedIpService(self.core)
        self.can_edit = context.session.can(SYSTEM_SECURITY, Action.EDIT)
        self.can_delete = context.session.can(SYSTEM_SECURITY, Action.DELETE)
        self.state: SecurityState | None = None
        self.readiness_dialog: ReadinessDialog | None = None
        self._reselect: set[int] = set()

        self.message = MessageLabel(self)
        self.message.setObjectName("securityMessage")

        # ----- connection security (the seed's HTTPS/SSL) -----
        status_box = QGroupBox(self.tr("Connection security"), self)
        status_box.setObjectName("statusBox")
        self.database_status = _StatusLine(self.tr("Database connection"), self)
        self.database_status.setObjectName("databaseStatusLine")
        self.mail_status = _StatusLine(self.tr("Code delivery"), self)
        self.mail_status.setObjectName("mailStatusLine")
        self.address_label = QLabel("…", self)
        self.address_label.setObjectName("workstationAddress")
        self.address_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address_label.setStyleSheet("font-weight: bold;")
        address_caption = QLabel(self.tr("This workstation's address, as the database sees it"))
        address_caption.setProperty("role", "muted")
        address_caption.setWordWrap(True)
        status_layout = QVBoxLayout(status_box)
        status_layout.setSpacing(8)
        status_layout.addWidget(self.database_status)
        status_layout.addWidget(self.mail_status)
        address_row = QHBoxLayout()
        address_row.setSpacing(8)
        address_icon = QLabel(self)
        address_icon.setPixmap(pixmap("network", 16, self.devicePixelRatioF()))
        address_row.addWidget(address_icon, 0, Qt.AlignmentFlag.AlignTop)
        address_text = QVBoxLayout()
        address_text.setSpacing(0)
        address_text.addWidget(address_caption)
        address_text.addWidget(self.address_label)
        address_row.addLayout(address_text, 1)
        status_layout.addLayout(address_row)

        # ----- two step authentication -----
        two_box = QGroupBox(self.tr("Two step authentication"), self)
        two_box.setObjectName("twoFactorBox")
        # The state is text; the button is named for what it does ("Turn on…").
        state_caption = QLabel(self.tr("Status:"), self)
        self.two_factor_state = QLabel("…", self)
        self.two_factor_state.setObjectName("twoFactorState")
        state_caption.setBuddy(self.two_factor_state)
        self.two_factor_button = QPushButton(self.tr("Turn on…"), self)
        self.two_factor_button.setObjectName("twoFactorButton")
        self.two_factor_button.setAutoDefault(False)
        self.two_factor_button.setEnabled(False)
        self.two_factor_button.clicked.connect(self.toggle_two_factor)
        self.two_factor_busy = BusyIndicator(self)
        self.two_factor_text = QLabel(self)
        self.two_factor_text.setObjectName("twoFactorText")
        self.two_factor_text.setWordWrap(True)
        toggle_row = QHBoxLayout()
        toggle_row.setSpacing(8)
        toggle_row.addWidget(state_caption)
        toggle_row.addWidget(self.two_factor_state)
        toggle_row.addStretch(1)
        toggle_row.addWidget(self.two_factor_busy)
        toggle_row.addWidget(self.two_factor_button)
        two_layout = QVBoxLayout(two_box)
        two_layout.setSpacing(8)
        two_layout.addLayout(toggle_row)
        two_layout.addWidget(self.two_factor_text)
        two_layout.addWidget(
            hint_label(
                self.tr(
                    "How does it work? After the password, pmdesk asks for a 6-digit code sent "
                    "to the user's e-mail address — unless they sign in from an address they "
                    'trusted with "Trust this IP" (only on the office network).'
                ),
                self,
            )
        )

        # ----- trust and codes -----
        trust_box = QGroupBox(self.tr("Trust and codes"), self)
        trust_box.setObjectName("trustBox")
        self.trust_days_spin = _spin(TRUST_DAYS_RANGE, self.tr(" days"), self)
        self.trust_days_spin.setObjectName("trustDaysSpin")
        self.code_ttl_spin = _spin(CODE_TTL_MINUTES_RANGE, self.tr(" minutes"), self)
        self.code_ttl_spin.setObjectName("codeTtlSpin")
        self.session_hours_spin = _spin(SESSION_HOURS_RANGE, self.tr(" hours"), self)
        self.session_hours_spin.setObjectName("sessionHoursSpin")
        session_help = self.tr(
            "How long `pmdesk login` keeps the command line signed in. The desktop app stays "
            "signed in while it is open."
        )
        self.session_hours_spin.setToolTip(session_help)
        self.session_hours_spin.setAccessibleDescription(session_help)
        self.trust_days_box = FieldBox(self.trust_days_spin, self)
        self.code_ttl_box = FieldBox(self.code_ttl_spin, self)
        self.session_hours_box = FieldBox(self.session_hours_spin, self)
        for spin in self._trust_spins():
            spin.valueChanged.connect(self._trust_edited)
        self.never_trusted_edit = QLineEdit(self)
        self.never_trusted_edit.setObjectName("neverTrustedEdit")
        self.never_trusted_edit.setMaxLength(NEVER_TRUSTED_MAX_LENGTH * 2)
        self.never_trusted_edit.setPlaceholderText(self.tr("e.g. 10.0.0.5, 10.1.0.0/24"))
        self.never_trusted_edit.setAccessibleName(self.tr("Never trust these addresses"))
        never_help = self.tr(
            "Proxies and connection poolers: everyone behind them shares their address, so "
            "it is never trusted. IP addresses or networks, separated by commas."
        )
        self.never_trusted_edit.setToolTip(never_help)
        self.never_trusted_edit.setAccessibleDescription(never_help)
        self.never_trusted_box = FieldBox(self.never_trusted_edit, self)
        self.never_trusted_edit.textEdited.connect(self._trust_edited)
        # Made before it, the sessions spin sits below the address list: Tab goes down.
        QWidget.setTabOrder(self.never_trusted_edit, self.session_hours_spin)
        self.trust_save_button = make_primary(
            QPushButton(icon("save-light"), self.tr("Save"), self)
        )
        self.trust_save_button.setObjectName("saveTrustButton")
        self.trust_save_button.clicked.connect(self.save_trust_settings)
        self.trust_message = MessageLabel(self)
        self.trust_message.setObjectName("trustMessage")
        trust_form = form_layout()
        trust_form.addRow(self.tr("Trust an address for"), self.trust_days_box)
        trust_form.addRow(self.tr("A code is valid for"), self.code_ttl_box)
        trust_form.addRow(self.tr("Never trust"), self.never_trusted_box)
        trust_form.addRow(self.tr("Command-line sessions last"), self.session_hours_box)
        label_fields(trust_form)
        # The address list takes the width it needs; the spin boxes keep theirs.
        trust_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        trust_row = QHBoxLayout()
        trust_row.addWidget(self.trust_message, 3)
        trust_row.addStretch(1)  # Save keeps its own width while no message is shown
        trust_row.addWidget(self.trust_save_button, 0, Qt.AlignmentFlag.AlignTop)
        trust_layout = QVBoxLayout(trust_box)
        trust_layout.setSpacing(8)
        trust_layout.addLayout(trust_form)
        trust_layout.addLayout(trust_row)
        trust_layout.addWidget(
            hint_label(
                self.tr(
                    "Trusted addresses are removed automatically when their time is up; a "
                    "shorter period applies at once. On a shared database (PostgreSQL, "
                    "MariaDB), loopback, link-local and local-socket connections are never "
                    "trusted either."
                ),
                self,
            )
        )

        # ----- code delivery -----
        self.mail_box = MailSettingsBox(self)
        self.mail_box.save_requested.connect(self.save_delivery)
        self.mail_box.test_requested.connect(self.send_test)

        left_holder = QWidget(self)
        left_holder.setObjectName("securityLeft")
        left_layout = QVBoxLayout(left_holder)
        left_layout.setContentsMargins(0, 0, 8, 0)
        left_layout.setSpacing(12)
        left_layout.addWidget(status_box)
        left_layout.addWidget(two_box)
        left_layout.addWidget(trust_box)
        left_layout.addWidget(self.mail_box)
        left_layout.addStretch(1)
        self.left_scroll = follow_focus(QScrollArea(self))
        self.left_scroll.setObjectName("securityLeftScroll")
        self.left_scroll.setWidgetResizable(True)
        self.left_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.left_scroll.setWidget(left_holder)
        self.left_scroll.setFixedWidth(LEFT_WIDTH)

        # ----- trusted IP addresses -----
        ip_box = QGroupBox(self.tr("Trusted IP addresses"), self)
        ip_box.setObjectName("trustedIpBox")
        self.model = TrustedIpModel(TrustedIpSource(self.ip_service, self.actor), self.tasks, self)
        self.model.loaded.connect(self._page_loaded)
        self.model.failed.connect(self._page_failed)

        self.filter_edit, self._filter_timer = search_box(
            self,
            "ipFilterEdit",
            self.tr("Filter by user or address"),
            FILTER_DELAY_MS,
            self._apply_filter,
            label=self.tr("Filter trusted IP addresses"),
        )
        self.reload_button = QToolButton(self)
        self.reload_button.setObjectName("reloadIpsButton")
        self.reload_button.setIcon(icon("refresh"))
        self.reload_button.setToolTip(self.tr("Reload (F5)"))
        self.reload_button.setAccessibleName(self.tr("Reload trusted IP addresses"))
        self.reload_button.clicked.connect(self.refresh)
        self.ip_busy = BusyIndicator(self)
        filter_row = QHBoxLayout()
        filter_row.setSpacing(6)
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.ip_busy)
        filter_row.addWidget(self.reload_button)

        self.table = list_table(self, "trustedIpTable", self.model, ROW_HEIGHT)
        self.table.setAccessibleName(self.tr("Trusted IP addresses"))
        self.table.setMouseTracking(True)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        for column, width in ((ID, 70), (ADDRESS, 150), (CREATED, 130), (EXPIRES, 130)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        header.setSectionResizeMode(USER, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(REMOVE, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(REMOVE, 40)
        self.remove_delegate = RemoveIconDelegate(self.table)
        self.remove_delegate.enabled = self.can_delete
        self.remove_delegate.clicked.connect(self._remove_clicked)
        self.table.setItemDelegateForColumn(REMOVE, self.remove_delegate)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.empty_label = QLabel(self)
        self.empty_label.setObjectName("ipEmptyLabel")
        self.empty_label.setProperty("role", "muted")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.hide()

        self.remove_button = make_danger(
            QPushButton(icon("remove"), self.tr("Remove selected"), self)
        )
        self.remove_button.setObjectName("removeSelectedButton")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected)
        self.paging_label = QLabel(self)
        self.paging_label.setObjectName("pagingLabel")
        self.paging_label.setProperty("role", "muted")
        self.paging_label.setWordWrap(True)  # may take two lines, so the page fits 1024 px
        self.previous_button = QPushButton(icon("previous"), self.tr("Previous"), self)
        self.previous_button.setObjectName("previousButton")
        self.next_button = QPushButton(icon("next"), self.tr("Next"), self)
        self.next_button.setObjectName("nextButton")
        self.next_button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        self.page_label = QLabel(self)
        self.page_label.setObjectName("pageNumberLabel")
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.page_label.setMinimumWidth(28)
        for button in (self.previous_button, self.next_button):
            button.setAutoDefault(False)
        self.previous_button.clicked.connect(self.model.previous_page)
        self.next_button.clicked.connect(self.model.next_page)
        paging_row = QHBoxLayout()
        paging_row.setSpacing(6)
        paging_row.addWidget(self.remove_button)
        paging_row.addStretch(1)
        paging_row.addWidget(self.paging_label)
        paging_row.addSpacing(8)
        paging_row.addWidget(self.previous_button)
        paging_row.addWidget(self.page_label)
        paging_row.addWidget(self.next_button)

        self.ip_message = MessageLabel(self)
        self.ip_message.setObjectName("ipMessage")
        ip_layout = QVBoxLayout(ip_box)
        ip_layout.setSpacing(8)
        ip_layout.addWidget(
            hint_label(
                self.tr(
                    "This is an overview of all IP addresses that are trusted. Click the red icon "
                    "to remove one trusted by mistake (a home network, say): logins from there "
                    "need a security code again."
                ),
                self,
            )
        )
        ip_layout.addLayout(filter_row)
        ip_layout.addWidget(self.ip_message)
        ip_layout.addWidget(self.table, 1)
        ip_layout.addWidget(self.empty_label)
        ip_layout.addLayout(paging_row)

        columns = QHBoxLayout()
        columns.setSpacing(10)  # 10 and 10 (not 14): the page fits a 1024 px screen
        columns.addWidget(self.left_scroll)
        columns.addWidget(ip_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 12)
        layout.setSpacing(8)
        layout.addWidget(self.message)
        layout.addLayout(columns, 1)

        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        delete_shortcut = QShortcut(QKeySequence.StandardKey.Delete, self.table)
        delete_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete_shortcut.activated.connect(self.remove_selected)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh_trusted_ips)
        self._make_operations()
        self._connect_background()

        for spin in self._trust_spins():
            spin.setEnabled(False)
        self.never_trusted_edit.setEnabled(False)
        self.mail_box.set_editable(False)
        self._update_buttons()
        self.load_state()
        self.model.load_first()

    # ----- background updates -------------------------------------------------------------

    def _make_operations(self) -> None:
        """One ``Operation`` per action of the page (see pmdesk.ui.ops)."""
        tr = self.tr
        settings_conflict = Conflict(
            self.load_state,
            tr(
                "Reload shows the settings as they are now saved; what you typed here is "
                "discarded. Keep my changes leaves them here, unsaved."
            ),
            self.message,
        )
        page = Operations(
            self,
            self.tasks,
            message=self.message,
            busy=indicator(self.two_factor_busy, self._update_buttons),
            changes=self.context.changes,
        )
        self.ops = page
        self.loading = page.make(
            "security", failure=tr("The security settings could not be loaded")
        )
        self.status_reading = page.make(
            "connection status", failure=tr("The connection status could not be read")
        )
        self.readiness_check = page.make(
            "readiness",
            busy_text=tr("Checking who can receive a code…"),
            failure=tr("The check did not work"),
        )
        self.two_factor_saving = page.make(
            "two-step",
            busy_text=tr("Saving…"),
            failure=tr("The change was not saved"),
            conflict=settings_conflict,
            # Someone lost their address meanwhile: show the new list and ask again.
            handle={ShutOutWarning: lambda exc: self._show_readiness(exc.people)},
        )
        self.trust_saving = page.make(
            "trust settings",
            message=self.trust_message,
            failure=tr("Not saved"),
            busy=lambda _on, _text: self._update_buttons(),
            fields=self._trust_errors,
            conflict=settings_conflict,
            after_failure=self._update_buttons,
        )
        mail: dict[str, Any] = {"message": self.mail_box.message, "busy": self.mail_box.set_busy}
        self.delivery_saving = page.make(
            "save delivery",
            **mail,
            busy_text=tr("Saving…"),
            failure=tr("Not saved"),
            fields=self.mail_box.set_errors,
            invalid_text=tr("Not saved: correct the fields marked in red."),
            conflict=settings_conflict,
        )
        self.test_sending = page.make(
            "test",
            **mail,
            failure=tr("The test code could not be sent"),
            handle={Exception: self.mail_box.show_test_failure},  # with the step that failed
            after_failure=lambda: self._reveal(self.mail_box.message),
        )
        self.removing = page.make(
            "remove",
            message=self.ip_message,
            failure=tr("Nothing was removed"),
            handle={PermissionDenied: self._may_not_remove},
            announces={TRUSTED_IPS},
        )

    def _connect_background(self) -> None:
        """Follow the changes made on other workstations, by the sweep and by other pages."""
        self.context.changes.subscribe(self, {TRUSTED_IPS}, self.trusted_ips_changed_elsewhere)
        self.context.changes.subscribe(self, {SECURITY_SETTINGS}, self.settings_changed_elsewhere)

    def trusted_ips_changed_elsewhere(self, _tables: frozenset[str] = frozenset()) -> None:
        """Slot for ``BackgroundServices.trusted_ips_changed``: reload the page on screen soon
        (bursts of notifications, e.g. from the expiry sweep, cause one reload)."""
        self._refresh_timer.start()

    def settings_changed_elsewhere(self, _tables: frozenset[str] = frozenset()) -> None:
        """Slot for ``BackgroundServices.security_settings_changed``."""
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
        self._reselect = set(self.selected_ids())
        self.model.reload()
        self._update_ip_busy()

    # ----- loading the settings -----------------------------------------------------------

    def load_state(self) -> None:
        core, actor = self.core, self.actor
        self.loading.run(lambda: security_state(core, actor), self._show_state)

    def _show_state(self, state: SecurityState) -> None:
        self.state = state
        settings, status = state.settings, state.status
        self._show_settings(settings)
        # The core says how each link is protected; red only for what is wrong (exposed).
        link = status.database_link
        if link == "none":
            self.database_status.set_state(
                None, self.tr("Embedded database on this computer (no network link)")
            )
        elif link == "encrypted":
            self.database_status.set_state(True, self.tr("Encryption: TLS"))
        elif link == "local":
            self.database_status.set_state(
                None, self.tr("Encryption: none (server on this computer only)")
            )
        else:
            self.database_status.set_state(
                False,
                self.tr(
                    "Not encrypted: data and sign-ins cross the network readable. Turn on TLS "
                    "for the database connection."
                ),
            )
        self._show_state_status(status)
        self.address_label.setText(status.workstation_address or self.tr("unknown"))
        self.mail_box.load(settings.delivery, state.secret, str(self.core.outbox_default))
        self.mail_box.set_editable(self.can_edit)

    def _show_settings(self, settings: SecuritySettingsView) -> None:
        """The toggle and the trust settings (the delivery form is loaded separately)."""
        if self.state is not None and self.state.settings is not settings:
            self.state = SecurityState(settings, self.state.status, self.state.secret)
        on = settings.two_factor_enabled
        self.two_factor_state.setText(self.tr("On") if on else self.tr("Off"))
        self.two_factor_state.setStyleSheet(_STATE_STYLE[on])
        self.two_factor_button.setText(self.tr("Turn off…") if on else self.tr("Turn on…"))
        self.two_factor_button.setIcon(icon("lock") if not on else QIcon())
        # Turning on is what this screen is for; turning off asks first, in red.
        self.two_factor_button.setProperty("primary", not on)
        repolish(self.two_factor_button)
        self.two_factor_button.setToolTip(
            (
                self.tr("Turn two-step authentication off (asks first)")
                if on
                else self.tr("Check who can receive a code, then turn two-step authentication on")
            )
            if self.can_edit
            else self.tr("Your user group needs System → Security Edit to change this.")
        )
        self.two_factor_button.setAccessibleDescription(self.two_factor_button.toolTip())
        self.two_factor_text.setText(
            self.tr("Signing in from an address that is not trusted asks for a security code.")
            if on
            else self.tr("A password is enough to sign in.")
        )
        for spin, value in zip(self._trust_spins(), _trust_values(settings), strict=True):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
            spin.setEnabled(self.can_edit)
        self.never_trusted_edit.setText(settings.never_trusted_addresses)
        self._clear_trust_errors()
        self.never_trusted_edit.setEnabled(self.can_edit)
        self._update_buttons()

    @property
    def settings(self) -> SecuritySettingsView | None:
        return self.state.settings if self.state else None

    def has_unsaved_changes(self) -> bool:
        return self._trust_dirty() or (self.state is not None and self.mail_box.is_dirty())

    def _trust_dirty(self) -> bool:
        settings = self.settings
        return settings is not None and (
            [spin.value() for spin in self._trust_spins()] != list(_trust_values(settings))
            or self.never_trusted_edit.text().strip() != settings.never_trusted_addresses
        )

    def _trust_spins(self) -> tuple[QSpinBox, QSpinBox, QSpinBox]:
        return (self.trust_days_spin, self.code_ttl_spin, self.session_hours_spin)

    def _clear_trust_errors(self) -> None:
        for box in (
            self.trust_days_box,
            self.code_ttl_box,
            self.session_hours_box,
            self.never_trusted_box,
        ):
            box.set_error(None)

    # ----- two step authentication --------------------------------------------------------

    def toggle_two_factor(self) -> None:
        settings = self.settings
        if settings is None or not self.can_edit or self._two_factor_busy():
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
        label = self.state.status.mail_label if self.state else ""
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

    def _two_factor_busy(self) -> bool:
        return self.ops.busy

    # ----- trust days and code lifetime ---------------------------------------------------

    def _trust_edited(self, _value: object) -> None:
        self.trust_message.clear_message()
        self._clear_trust_errors()
        self._update_buttons()

    def save_trust_settings(self) -> None:
        settings = self.settings
        if (
            settings is None
            or not self.can_edit
            or self.trust_saving.running
            or not self._trust_dirty()
        ):
            return
        service, actor, version = self.service, self.actor, settings.version
        days, minutes, hours = (spin.value() for spin in self._trust_spins())
        never = self.never_trusted_edit.text()

        def done(view: SecuritySettingsView) -> None:
            self._show_settings(view)
            self.trust_message.show_success(self.tr("Saved."))
            self.refresh_trusted_ips()  # the Expires column follows the trust period

        self.trust_saving.run(
            lambda: service.update(
                actor,
                version,
                trust_days=days,
                code_ttl_minutes=minutes,
                never_trusted_addresses=never,
                session_hours=hours,
            ),
            done,
        )

    def _trust_errors(self, errors: dict[str, str]) -> list[str]:
        self.trust_days_box.set_error(errors.get("trust_days"))
        self.code_ttl_box.set_error(errors.get("code_ttl_minutes"))
        self.session_hours_box.set_error(errors.get("session_hours"))
        self.never_trusted_box.set_error(errors.get("never_trusted_addresses"))
        return []

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
            if self.state is not None:
                self.state = SecurityState(result.settings, self.state.status, result.secret)
            if result.secret_problem:
                # What was typed stays in its field, with the keyring's message under it.
                self.mail_box.keep_secret(secret, result.secret_problem)
                self.mail_box.message.show_error(
                    self.tr(
                        "Settings saved, but the {what} was not stored in the keyring; it is "
                        "still in its field. Save again once the keyring works."
                    ).format(
                        what=self.tr("password") if delivery.method == "smtp" else self.tr("token"),
                    )
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
            if self.state is not None:
                self.state = SecurityState(self.state.settings, status, self.state.secret)
                self._show_state_status(status)

        self.status_reading.run(lambda: service.connection_status(actor), done)

    def _show_state_status(self, status: ConnectionStatus) -> None:
        """The mail link's line of the connection status: how codes go, then how they are
        protected on the way (red only when they would cross the network unencrypted)."""
        how = status.mail_label
        link = status.mail_link
        relay = status.relay
        if relay is not None:
            # A hardened database: the relay sends, so its heartbeat is what matters here.
            line = self.tr("Sent by the {relay}").format(relay=relay.text)
            if relay.problem:
                line += "\n" + relay.problem
            if not relay.running:
                self.mail_status.set_state(False, relay.text if not relay.problem else line)
                return
            how = line + "\n" + how
        if link == "none":
            self.mail_status.set_state(None, how)
        elif link == "encrypted":
            self.mail_status.set_state(True, how + "\n" + self.tr("Encryption: TLS"))
        elif link == "local":
            self.mail_status.set_state(
                None, how + "\n" + self.tr("Encryption: none (local server only)")
            )
        else:
            self.mail_status.set_state(
                False, how + "\n" + self.tr("Not encrypted: codes cross the network readable.")
            )

    def _reveal(self, widget: QWidget) -> None:
        """Scroll the left panel so that ``widget`` (a result just shown) is in view, once the
        layout has made room for it: a result below the visible part looks like nothing
        happened."""

        def scroll() -> None:
            holder = self.left_scroll.widget()
            layout = holder.layout() if holder is not None else None
            if layout is not None:
                layout.activate()
            if widget.isVisible():
                self.left_scroll.ensureWidgetVisible(widget, 0, 12)

        QTimer.singleShot(0, self, scroll)

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
                    to=sent.destination, how=sent.label
                )
            self.mail_box.message.show_success(text)
            self._reveal(self.mail_box.message)

        self.mail_box.message.clear_message()
        self.test_sending.run(
            lambda: service.send_test_code(actor, address),
            done,
            busy_text=self.tr("Sending a test code to {to}…").format(to=address),
        )

    # ----- trusted IPs --------------------------------------------------------------------

    def _apply_filter(self) -> None:
        self._filter_timer.stop()
        self._reselect = set()
        self.model.set_filter(self.filter_edit.text())
        self._update_ip_busy()

    def _page_loaded(self) -> None:
        if self.ip_message.role == "error":
            self.ip_message.clear_message()
        page = self.model.current_page
        self._update_ip_busy()
        if page is None or page.total == 0:
            self.paging_label.setText(self.tr("No items found."))
            self.page_label.setText("")
        else:
            total = (
                f"{page.total}"
                if page.total_exact
                else self.tr("more than {n}").format(n=page.total)
            )
            self.paging_label.setText(
                self.tr("Viewing items {first}-{last} of {total}").format(
                    first=page.first_index, last=page.last_index, total=total
                )
            )
            self.page_label.setText(str(page.page))
            self.page_label.setToolTip(
                self.tr("Page {page} of {pages}").format(page=page.page, pages=page.pages)
                if page.total_exact
                else ""
            )
        empty = page is None or not page.rows
        self.empty_label.setText(
            self.tr("No trusted address matches “{text}”.").format(text=self.model.filter_text)
            if self.model.filter_text
            else self.tr("No address is trusted at the moment.")
        )
        self.empty_label.setVisible(empty)
        if self._reselect:
            self._select_ids(self._reselect)
            self._reselect = set()
        self._update_buttons()
        self.trusted_ips_shown.emit()

    def _page_failed(self, exc: object) -> None:
        self._update_ip_busy()
        self.ip_message.show_error(
            error_text(exc, self.tr("The trusted addresses could not be loaded"))
        )

    def _update_ip_busy(self) -> None:
        if self.model.loading:
            if not self.ip_busy.running:
                self.ip_busy.start()
        else:
            self.ip_busy.stop()
        self._update_buttons()

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        found = []
        for row in rows:
            value = self.model.data(self.model.index(row, 0), ROW_ID_ROLE)
            if value is not None:
                found.append(int(value))
        return found

    def _select_ids(self, ids: set[int]) -> None:
        selection = QItemSelection()
        for row_id in ids:
            row = self.model.row_of(row_id)
            if row is not None:
                selection.select(
                    self.model.index(row, 0), self.model.index(row, self.model.columnCount() - 1)
                )
        if not selection.isEmpty():
            self.table.selectionModel().select(
                selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_buttons()

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
        if not ids:
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
            text = self.tr("Remove {n} trusted addresses?").format(n=len(ids))
        service, actor = self.ip_service, self.actor
        wanted = list(ids)

        def confirmed() -> None:
            def done(removed: int) -> None:
                if removed == len(wanted):
                    self.ip_message.show_success(
                        self.tr("1 trusted address removed.")
                        if removed == 1
                        else self.tr("{n} trusted addresses removed.").format(n=removed)
                    )
                else:
                    self.ip_message.show_notice(
                        self.tr(
                            "{n} of {m} removed; the others were already gone (removed on "
                            "another workstation or expired)."
                        ).format(n=removed, m=len(wanted))
                    )
                self._reselect = set()
                self.model.reload()
                self._update_ip_busy()

            self.ip_message.clear_message()
            self.removing.run(lambda: service.remove(actor, wanted), done)

        ask(
            self,
            self.tr("Remove trusted address"),
            text,
            self.tr("Remove"),
            confirmed,
            danger=True,
            informative=self.tr("Logins from there will need a security code again."),
        )

    def _may_not_remove(self, exc: PermissionDenied) -> None:
        self.ip_message.show_error(error_text(exc, self.tr("Nothing was removed")))
        self.remove_delegate.enabled = False
        self.table.viewport().update()

    # ----- buttons ------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        loaded = self.settings is not None
        self.two_factor_button.setEnabled(self.can_edit and loaded and not self._two_factor_busy())
        self.trust_save_button.setEnabled(
            self.can_edit and loaded and not self.trust_saving.running and self._trust_dirty()
        )
        if not self.can_edit:
            self.trust_save_button.setToolTip(
                self.tr("Your user group needs System → Security Edit to change this.")
            )
        selected = len(self.selected_ids())
        self.remove_button.setEnabled(self.can_delete and selected > 0)
        self.remove_button.setText(
            self.tr("Remove selected ({n})").format(n=selected)
            if selected > 1
            else self.tr("Remove selected")
        )
        self.remove_button.setToolTip(
            ""
            if self.can_delete
            else self.tr("Your user group needs System → Security Delete to remove addresses.")
        )
        self.previous_button.setEnabled(self.model.has_previous())
        self.next_button.setEnabled(self.model.has_next())


class _StatusLine(QWidget):
    """One line of the connection status: an icon, a caption and what it is.

    ``on``: True protected (green lock), None nothing wrong (neutral), False wrong (red)."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: bool | None = None
        self.icon_label = QLabel(self)
        self.icon_label.setFixedWidth(18)
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        self.caption = QLabel(caption, self)
        self.caption.setProperty("role", "muted")
        self.value = QLabel("…", self)
        self.value.setObjectName("value")
        self.value.setWordWrap(True)
        text = QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self.caption)
        text.addWidget(self.value)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(8)
        layout.addWidget(self.icon_label, 0, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 0, 1)
        layout.setColumnStretch(1, 1)

    def set_state(self, on: bool | None, text: str) -> None:
        self.state = on
        self.value.setText(text)
        name = {True: "lock", False: "warning", None: "info"}[on]
        self.icon_label.setPixmap(pixmap(name, 16, self.devicePixelRatioF()))
        color = {True: "#1d5e21", False: "#b3261e", None: "#1f2933"}[on]
        self.value.setStyleSheet(f"font-weight: bold; color: {color};")

    def text(self) -> str:
        return self.value.text()


def _trust_values(settings: SecuritySettingsView) -> tuple[int, int, int]:
    """The values of the Trust and codes spin boxes, in their order."""
    return (settings.trust_days, settings.code_ttl_minutes, settings.session_hours)


def _spin(bounds: tuple[int, int], suffix: str, parent: QWidget) -> QSpinBox:
    spin = QSpinBox(parent)
    spin.setRange(*bounds)
    spin.setSuffix(suffix)
    spin.setMinimumWidth(130)
    spin.setMaximumWidth(150)
    pad_spin_box(spin)
    spin.setAccelerated(True)
    return spin
