"""Whether the person in the Personnel form has a live helpdesk code, with "Issue helpdesk
code…" and "Cancel code" (System → Security Edit; see core.helpdesk)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from pmdesk.core.helpdesk import HelpdeskState
from pmdesk.ui.system.common import local_time
from pmdesk.ui.translation import Retranslating


class HelpdeskRow(Retranslating, QWidget):
    """``issue_requested`` / ``cancel_requested`` when a button is clicked (the page acts)."""

    issue_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state: HelpdeskState | None = None
        self.state_label = QLabel(self)
        self.state_label.setObjectName("helpdeskCodeState")
        self.state_label.setWordWrap(True)
        self.issue_button = QPushButton(self)
        self.issue_button.setObjectName("issueHelpdeskCodeButton")
        self.issue_button.setAutoDefault(False)
        self.issue_button.clicked.connect(self.issue_requested)
        self.cancel_button = QPushButton(self)
        self.cancel_button.setObjectName("cancelHelpdeskCodeButton")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        row = QHBoxLayout(self)
        row.setSpacing(8)
        row.setContentsMargins(0, 4, 0, 0)
        row.addWidget(self.state_label, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.issue_button)
        self.hide()
        self.retranslate()

    def retranslate(self) -> None:
        self.issue_button.setText(self.tr("Issue helpdesk code…"))
        self.issue_button.setToolTip(self.tr("A one-time sign-in code to read out over the phone"))
        self.cancel_button.setText(self.tr("Cancel code"))
        self.cancel_button.setAccessibleName(self.tr("Cancel helpdesk code"))
        if self._state is not None:
            self.show_state(self._state)

    def show_state(self, state: HelpdeskState | None) -> None:
        """None: not shown (a new person, no login, or no System → Security Read)."""
        self._state = state
        self.setVisible(state is not None)
        if state is None:
            return
        live = state.live
        if live is None:
            self.state_label.setText(self.tr("No helpdesk code."))
        else:
            self.state_label.setText(
                self.tr("A helpdesk code is live until {time} (issued by {who}: {reason}).").format(
                    time=local_time(live.expires_at),
                    who=live.issued_by,
                    reason=live.reason,
                )
            )
        self.issue_button.setVisible(state.may_issue)
        self.cancel_button.setVisible(state.may_issue and live is not None)
