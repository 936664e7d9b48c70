"""System → Security's two-step authentication switch: its state ("Status: Off") and a button
named for what it does ("Turn on…" / "Turn off…"); the page asks and saves."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from pmdesk.core.security import SecuritySettingsView
from pmdesk.ui.icons import icon
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import BusyIndicator, hint_label, repolish


class TwoStepBox(Retranslating, QGroupBox):
    """The switch; ``toggle_requested`` when its button is clicked."""

    toggle_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("twoFactorBox")
        self._shown: tuple[SecuritySettingsView, bool] | None = None
        # The state is text; the button is named for what it does ("Turn on…").
        self.state_caption = QLabel(self)
        self.two_factor_state = QLabel("…", self)
        self.two_factor_state.setObjectName("twoFactorState")
        self.state_caption.setBuddy(self.two_factor_state)
        self.two_factor_button = QPushButton(self)
        self.two_factor_button.setObjectName("twoFactorButton")
        self.two_factor_button.setAutoDefault(False)
        self.two_factor_button.setEnabled(False)
        self.two_factor_button.clicked.connect(self.toggle_requested)
        self.two_factor_busy = BusyIndicator(self)
        self.two_factor_text = QLabel(self)
        self.two_factor_text.setObjectName("twoFactorText")
        self.two_factor_text.setWordWrap(True)
        self.hint = hint_label("", self)
        toggle_row = QHBoxLayout()
        toggle_row.setSpacing(8)
        toggle_row.addWidget(self.state_caption)
        toggle_row.addWidget(self.two_factor_state)
        toggle_row.addStretch(1)
        toggle_row.addWidget(self.two_factor_busy)
        toggle_row.addWidget(self.two_factor_button)
        two_layout = QVBoxLayout(self)
        two_layout.setSpacing(8)
        two_layout.addLayout(toggle_row)
        two_layout.addWidget(self.two_factor_text)
        two_layout.addWidget(self.hint)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Two step authentication"))
        self.state_caption.setText(self.tr("Status:"))
        self.hint.setText(
            self.tr(
                "How does it work? After the password, pmdesk asks for a 6-digit code sent "
                "to the user's e-mail address — unless they sign in from an address they "
                'trusted with "Trust this IP" (only on the office network).'
            )
        )
        if self._shown is None:
            self.two_factor_button.setText(self.tr("Turn on…"))
        else:
            self.show_settings(self._shown[0], editable=self._shown[1])

    def show_settings(self, settings: SecuritySettingsView, *, editable: bool) -> None:
        self._shown = (settings, editable)
        on = settings.two_factor_enabled
        self.two_factor_state.setText(self.tr("On") if on else self.tr("Off"))
        self.two_factor_state.setProperty("on", on)  # QLabel#twoFactorState[on=…] in style.qss
        repolish(self.two_factor_state)
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
            if editable
            else self.tr("Your user group needs System → Security Edit to change this.")
        )
        self.two_factor_button.setAccessibleDescription(self.two_factor_button.toolTip())
        self.two_factor_text.setText(
            self.tr("Signing in from an address that is not trusted asks for a security code.")
            if on
            else self.tr("A password is enough to sign in.")
        )
