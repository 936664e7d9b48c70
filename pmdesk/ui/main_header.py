"""The main window's header: the logo, the language switch, who is signed in and Sign out."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from pmdesk.core.modules import LANGUAGES
from pmdesk.ui.icons import icon, pixmap
from pmdesk.ui.translation import Retranslating, current_language


class Header(Retranslating, QWidget):
    """The dark bar above the tabs. Each language keeps its own name in the list (a reader
    finds their language whatever the one shown now)."""

    def __init__(self, display_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("header")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        logo = QLabel(self)
        logo.setPixmap(pixmap("app", 26, self.devicePixelRatioF()))
        brand = QLabel("pmdesk", self)
        brand.setObjectName("brand")
        self.language_combo = QComboBox(self)
        self.language_combo.setObjectName("languageCombo")
        for code, name in LANGUAGES:
            self.language_combo.addItem(name, code)
        self.user_label = QLabel(display_name, self)
        self.user_label.setObjectName("headerUser")
        self.sign_out_button = QPushButton(self)
        self.sign_out_button.setObjectName("signOutButton")
        self.sign_out_button.setIcon(icon("sign-out-light"))
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 8, 14, 8)
        row.setSpacing(10)
        row.addWidget(logo)
        row.addWidget(brand)
        row.addStretch(1)
        row.addWidget(self.language_combo)
        row.addSpacing(12)
        row.addWidget(self.user_label)
        row.addWidget(self.sign_out_button)
        self.retranslate()

    def retranslate(self) -> None:
        # The list shows the language in use, however it was chosen (here, at the start, or a
        # sign-in that applied the person's), without choosing it again.
        shown = self.language_combo.findData(current_language())
        if shown >= 0 and shown != self.language_combo.currentIndex():
            blocked = self.language_combo.blockSignals(True)
            self.language_combo.setCurrentIndex(shown)
            self.language_combo.blockSignals(blocked)
        self.language_combo.setToolTip(self.tr("Language"))
        self.language_combo.setAccessibleName(self.tr("Language"))
        self.sign_out_button.setText(self.tr("Sign out"))
