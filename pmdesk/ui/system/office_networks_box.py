"""System → Security's "Where addresses may be trusted": the trust policy (anywhere, only inside
office networks, never) and the office networks, named address ranges ("Head office",
10.1.0.0/16) inside which "Trust this IP" is offered under the second (pmdesk.core.office_networks).

A new policy and a removed network first show what they would do ("N addresses stop being
trusted, M people affected") and ask. Adding a network checks the name and the ranges in the
core and shows what is wrong under the field, with what was typed kept. The box follows the
signed-in group's rights (Edit: policy, add, remove); the services check again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.changes import SECURITY_SETTINGS, TRUSTED_IPS
from pmdesk.core.office_networks import (
    ANYWHERE,
    NAME_MAX_LENGTH,
    NEVER,
    OFFICE_NETWORKS,
    RANGES_MAX_LENGTH,
    OfficeNetworkService,
    OfficeNetworkView,
    TrustImpact,
)
from pmdesk.core.security import SecurityService, SecuritySettingsView
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import text_table
from pmdesk.ui.message_boxes import ask
from pmdesk.ui.ops import Operations, indicator
from pmdesk.ui.system.common import form_layout
from pmdesk.ui.system.field_texts import describe, field_error, other_errors, relabel
from pmdesk.ui.system.trust_saving import impact_effect
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import BusyIndicator, FieldBox, MessageLabel, hint_label

if TYPE_CHECKING:
    from pmdesk.core.context import Actor
    from pmdesk.ui.page_context import ChangeHub
    from pmdesk.ui.tasks import TaskManager

NAME, RANGES = range(2)
#: The trust policy's choices, as the combo box lists them.
POLICY_LABELS = {
    ANYWHERE: str(QT_TRANSLATE_NOOP("OfficeNetworksBox", "Anywhere")),
    OFFICE_NETWORKS: str(QT_TRANSLATE_NOOP("OfficeNetworksBox", "Only inside office networks")),
    NEVER: str(QT_TRANSLATE_NOOP("OfficeNetworksBox", "Never")),
}
ROW_HEIGHT = 26
VISIBLE_ROWS = 4


def policy_label(policy: str) -> str:
    """A trust policy as the combo box says it, in the app's language."""
    return QCoreApplication.translate("OfficeNetworksBox", POLICY_LABELS[policy])


class OfficeNetworksBox(Retranslating, QGroupBox):
    """The trust policy and the office networks (see the module)."""

    #: The policy was saved: the settings as they are now (their new version), for the page.
    settings_saved = Signal(object)

    def __init__(
        self,
        service: OfficeNetworkService,
        security: SecurityService,
        actor: Actor,
        tasks: TaskManager,
        *,
        can_edit: bool,
        changes: ChangeHub | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("officeNetworksBox")
        self._service = service
        self._security = security
        self._actor = actor
        self._can_edit = can_edit
        self.networks: list[OfficeNetworkView] = []
        self.policy: str | None = None  # as saved (None until the page shows its settings)
        self._version = 0
        policy_row = self._build_policy_row()
        self.table = self._build_table()
        self.remove_button = QPushButton(icon("delete"), "", self)
        self.remove_button.setObjectName("removeNetworkButton")
        self.remove_button.clicked.connect(self.preview_removal)
        form = self._build_add_form()
        self.message = MessageLabel(self)
        self.message.setObjectName("officeNetworksMessage")
        self.busy = BusyIndicator(self)
        self._build_operations(tasks, changes)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(policy_row)
        self.networks_heading = QLabel(self)
        self.networks_heading.setProperty("role", "subheading")
        layout.addWidget(self.networks_heading)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        layout.addLayout(buttons)
        layout.addLayout(form)
        layout.addWidget(self.message)
        self.hint = hint_label("", self)
        layout.addWidget(self.hint)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Where addresses may be trusted"))
        for index, policy in enumerate(POLICY_LABELS):
            self.policy_combo.setItemText(index, policy_label(policy))
        self.policy_save_button.setText(self.tr("Save policy"))
        self.remove_button.setText(self.tr("Remove…"))
        self.add_button.setText(self.tr("Add network"))
        self.networks_heading.setText(self.tr("Office networks"))
        self.table.setAccessibleName(self.tr("Office networks"))
        self.table.setHorizontalHeaderLabels([self.tr("Name"), self.tr("Ranges")])
        texts = (self.tr("Trust addresses"), self.tr("Name"), self.tr("Ranges"))
        editors = (self.policy_combo, self.name_edit, self.ranges_edit)
        for label, text, editor in zip(self.row_labels, texts, editors, strict=True):
            relabel(label, text, editor)
        self.name_edit.setPlaceholderText(self.tr("e.g. Head office"))
        describe(
            self.ranges_edit,
            self.tr("e.g. 10.1.0.0/16, 10.8.0.0/24"),
            self.tr("IP addresses or networks (CIDR), separated by commas."),
        )
        self.hint.setText(
            self.tr(
                "With the trust policy “Only inside office networks”, “Trust this IP” is "
                "offered only to sign-ins from these ranges, as the database sees the "
                "address."
            )
        )
        self._update_buttons()

    # ----- building ------------------------------------------------------------------------

    def _build_policy_row(self) -> QFormLayout:
        self.policy_combo = QComboBox(self)
        self.policy_combo.setObjectName("trustPolicyCombo")
        for value in POLICY_LABELS:
            self.policy_combo.addItem("", value)
        self.policy_combo.currentIndexChanged.connect(self._policy_edited)
        self.policy_save_button = QPushButton(icon("save"), "", self)
        self.policy_save_button.setObjectName("savePolicyButton")
        self.policy_save_button.clicked.connect(self.preview_policy)
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.policy_save_button)
        form = form_layout()
        # A policy's words may be longer than the box is wide beside its label (French): the
        # label then goes above the list rather than cutting the column.
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.row_labels = [QLabel(self), QLabel(self), QLabel(self)]
        form.addRow(self.row_labels[0], self.policy_combo)
        form.addRow("", save_row)
        return form

    def _build_table(self) -> QTableWidget:
        table = text_table(self, "officeNetworkTable", "", ["", ""], ROW_HEIGHT)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = table.horizontalHeader()
        table.setFixedHeight(header.sizeHint().height() + ROW_HEIGHT * VISIBLE_ROWS + 4)
        table.itemSelectionChanged.connect(self._update_buttons)
        return table

    def _build_add_form(self) -> QFormLayout:
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("networkNameEdit")
        self.name_edit.setMaxLength(NAME_MAX_LENGTH * 2)
        self.ranges_edit = QLineEdit(self)
        self.ranges_edit.setObjectName("networkRangesEdit")
        self.ranges_edit.setMaxLength(RANGES_MAX_LENGTH)
        self.name_box = FieldBox(self.name_edit, self)
        self.ranges_box = FieldBox(self.ranges_edit, self)
        for edit in (self.name_edit, self.ranges_edit):
            edit.textEdited.connect(self._edited)
            edit.returnPressed.connect(self.add)
        self.add_button = QPushButton(icon("add"), "", self)
        self.add_button.setObjectName("addNetworkButton")
        self.add_button.clicked.connect(self.add)
        form = form_layout()
        form.addRow(self.row_labels[1], self.name_box)
        form.addRow(self.row_labels[2], self.ranges_box)
        form.addRow("", self.add_button)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        return form

    def _build_operations(self, tasks: TaskManager, changes: ChangeHub | None) -> None:
        ops = Operations(
            self,
            tasks,
            message=self.message,
            busy=indicator(self.busy, self._update_buttons),
            changes=changes,
        )
        self.ops = ops
        self.loading = ops.make(
            "office networks", failure=self.tr("The office networks could not be read")
        )
        self.policy_preview = ops.make(
            "trust policy impact",
            busy_text=self.tr("Checking…"),
            failure=self.tr("What the new policy would change could not be read"),
        )
        self.policy_saving = ops.make(
            "trust policy",
            busy_text=self.tr("Saving…"),
            failure=self.tr("The trust policy could not be saved"),
            announces=(SECURITY_SETTINGS, TRUSTED_IPS),
        )
        self.adding = ops.make(
            "add office network",
            busy_text=self.tr("Adding…"),
            failure=self.tr("The office network could not be added"),
            fields=self._show_field_errors,
            announces=(TRUSTED_IPS,),  # the list's Network column
        )
        self.previewing = ops.make(
            "office network impact",
            busy_text=self.tr("Checking…"),
            failure=self.tr("What the removal would change could not be read"),
        )
        self.removing = ops.make(
            "remove office network",
            busy_text=self.tr("Removing…"),
            failure=self.tr("The office network could not be removed"),
            announces=(TRUSTED_IPS,),
        )

    # ----- actions -------------------------------------------------------------------------

    def load(self) -> None:
        """The office networks (the policy comes with the page's settings: ``show_settings``)."""
        self.loading.run(lambda: self._service.list(self._actor), self._show)

    def show_settings(self, settings: SecuritySettingsView) -> None:
        """The saved policy, and the settings' version a new policy is saved on."""
        self._version = settings.version
        self._show_policy(settings.trust_policy)

    def chosen_policy(self) -> str:
        return str(self.policy_combo.currentData())

    def preview_policy(self) -> None:
        policy = self.chosen_policy()
        if not self._can_edit or self.ops.busy or policy == self.policy:
            return
        self.policy_preview.run(
            lambda: self._service.impact_of_policy(self._actor, policy),
            lambda impact: self._confirm_policy(policy, impact),
        )

    def add(self) -> None:
        if not self._can_edit or self.ops.busy:
            return
        name, ranges = self.name_edit.text(), self.ranges_edit.text().split(",")
        self.message.clear_message()
        self.adding.run(lambda: self._service.add(self._actor, name, ranges), self._added)

    def preview_removal(self) -> None:
        network = self.selected()
        if network is None or not self._can_edit or self.ops.busy:
            return
        self.previewing.run(
            lambda: self._service.impact_of_removing(self._actor, network.name),
            lambda impact: self._confirm_removal(network, impact),
        )

    def selected(self) -> OfficeNetworkView | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or not 0 <= rows[0].row() < len(self.networks):
            return None
        return self.networks[rows[0].row()]

    # ----- results -------------------------------------------------------------------------

    def _show_policy(self, policy: str) -> None:
        self.policy = policy
        self.policy_combo.blockSignals(True)
        self.policy_combo.setCurrentIndex(max(0, self.policy_combo.findData(policy)))
        self.policy_combo.blockSignals(False)
        self._update_buttons()

    def _confirm_policy(self, policy: str, impact: TrustImpact) -> None:
        ask(
            self,
            self.tr("Change the trust policy"),
            self.tr("Trust addresses: {policy}?").format(policy=policy_label(policy)),
            self.tr("Change"),
            lambda: self._save_policy(policy),
            danger=impact.addresses > 0,
            informative=impact_effect(impact),
        )

    def _save_policy(self, policy: str) -> None:
        security, actor, version = self._security, self._actor, self._version

        def saved(view: SecuritySettingsView) -> None:
            self.show_settings(view)
            label = policy_label(view.trust_policy)
            self.message.show_success(self.tr("Trust policy saved: {policy}.").format(policy=label))
            self.settings_saved.emit(view)

        # On the version shown: a change made meanwhile elsewhere is a conflict, not overwritten.
        self.policy_saving.run(lambda: security.update(actor, version, trust_policy=policy), saved)

    def _policy_edited(self, _index: int) -> None:
        self.message.clear_message()
        self._update_buttons()

    def _show(self, networks: list[OfficeNetworkView]) -> None:
        chosen = self.selected()
        self.networks = networks
        self.table.setRowCount(len(networks))
        for row, network in enumerate(networks):
            ranges = ", ".join(network.ranges)
            for column, text in ((NAME, network.name), (RANGES, ranges)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
            if chosen is not None and network.id == chosen.id:
                self.table.selectRow(row)
        self._update_buttons()

    def _added(self, network: OfficeNetworkView) -> None:
        self.name_edit.clear()
        self.ranges_edit.clear()
        self.message.show_success(
            self.tr("Office network “{name}” added: {ranges}.").format(
                name=network.name, ranges=", ".join(network.ranges)
            )
        )
        self.load()

    def _confirm_removal(self, network: OfficeNetworkView, impact: TrustImpact) -> None:
        ask(
            self,
            self.tr("Remove office network"),
            self.tr("Remove the office network “{name}” ({ranges})?").format(
                name=network.name, ranges=", ".join(network.ranges)
            ),
            self.tr("Remove"),
            lambda: self._remove(network),
            danger=impact.addresses > 0,
            informative=impact_effect(impact),
        )

    def _remove(self, network: OfficeNetworkView) -> None:
        def removed(_result: None) -> None:
            self.message.show_success(
                self.tr("Office network “{name}” removed.").format(name=network.name)
            )
            self.load()

        self.removing.run(lambda: self._service.remove(self._actor, network.name), removed)

    def _show_field_errors(self, errors: dict[str, str]) -> list[str]:
        self.name_box.set_error(field_error(errors, "name"))
        self.ranges_box.set_error(field_error(errors, "ranges"))
        return other_errors(errors, ("name", "ranges"))

    def _edited(self, _text: str) -> None:
        self.name_box.set_error(None)
        self.ranges_box.set_error(None)
        self.message.clear_message()

    def _update_buttons(self) -> None:
        idle = not self.ops.busy
        self.name_edit.setEnabled(self._can_edit)
        self.ranges_edit.setEnabled(self._can_edit)
        self.policy_combo.setEnabled(self._can_edit and idle)
        self.add_button.setEnabled(self._can_edit and idle)
        self.remove_button.setEnabled(self._can_edit and idle and self.selected() is not None)
        changed = self.policy is not None and self.chosen_policy() != self.policy
        self.policy_save_button.setEnabled(self._can_edit and idle and changed)
        if not self._can_edit:
            why = self.tr("Your user group may not change System → Security.")
            for button in (self.add_button, self.remove_button, self.policy_save_button):
                button.setToolTip(why)
