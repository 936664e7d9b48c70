"""Personnel → "Issue helpdesk code…": a reason (required) and how long, then the code, shown
once in large grouped digits to read out over the phone (core.helpdesk). Closing the dialog
forgets it: nothing keeps the code but this window while it is open."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core import helpdesk
from pmdesk.core.helpdesk import IssuedCode
from pmdesk.ui.icons import app_icon
from pmdesk.ui.personnel.form_fields import relabel
from pmdesk.ui.system.common import local_time
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import (
    BusyIndicator,
    FieldBox,
    MessageLabel,
    WrappingDialog,
    hint_label,
    label_fields,
    make_primary,
)


class HelpdeskCodeDialog(Retranslating, WrappingDialog):
    """``issue_requested(reason, minutes)`` when Issue code is clicked (the page issues it and
    calls ``show_code`` or ``set_errors``)."""

    issue_requested = Signal(str, int)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("helpdeskCodeDialog")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(480)
        self.name = name
        self._issued: IssuedCode | None = None
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self._ask_page())
        self.pages.addWidget(self._code_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self.retranslate()

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("Issue helpdesk code"))
        self.intro.setText(
            self.tr(
                "A one-time sign-in code for {name}, to read out over the phone. It works "
                "once, in the code step after their password, also while e-mail or SMS is "
                "down. A new code replaces the one issued before."
            ).format(name=self.name)
        )
        self.reason_edit.setPlaceholderText(self.tr("e.g. Ticket 4711: phone lost"))
        self.minutes_spin.setSuffix(self.tr(" min"))
        relabel(self.reason_label, self.tr("&Reason or ticket"))
        relabel(self.minutes_label, self.tr("&Valid for"))
        self.issue_button.setText(self.tr("Issue code"))
        self.code_label.setAccessibleName(self.tr("Helpdesk code"))
        self.copy_button.setText(self.tr("&Copy"))
        self.close_button.setText(self.tr("Close"))
        if self._issued is not None:
            self._show_texts(self._issued)

    # ----- the question ---------------------------------------------------------------

    def _ask_page(self) -> QWidget:
        page = QWidget(self)
        self.intro = intro = hint_label("", page)
        self.reason_edit = QLineEdit(page)
        self.reason_edit.setObjectName("helpdeskReason")
        self.reason_edit.setMaxLength(helpdesk.MAX_REASON)
        self.minutes_spin = QSpinBox(page)
        self.minutes_spin.setObjectName("helpdeskMinutes")
        self.minutes_spin.setRange(helpdesk.MIN_MINUTES, helpdesk.MAX_MINUTES)
        self.minutes_spin.setValue(helpdesk.DEFAULT_MINUTES)
        self.boxes = {
            "reason": FieldBox(self.reason_edit, page),
            "minutes": FieldBox(self.minutes_spin, page),
        }
        form = QFormLayout()
        form.setVerticalSpacing(8)
        # Texts before label_fields: it names each input after its label.
        self.reason_label = QLabel(self.tr("&Reason or ticket"), page)
        self.minutes_label = QLabel(self.tr("&Valid for"), page)
        form.addRow(self.reason_label, self.boxes["reason"])
        form.addRow(self.minutes_label, self.boxes["minutes"])
        label_fields(form)
        self.message = MessageLabel(page)
        self.busy = BusyIndicator(page)
        buttons = QDialogButtonBox(page)
        self.issue_button = make_primary(
            buttons.addButton("", QDialogButtonBox.ButtonRole.AcceptRole)
        )
        self.issue_button.setObjectName("issueCodeButton")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.issue_button.clicked.connect(self._issue)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.busy)
        layout.addStretch(1)
        layout.addWidget(buttons)
        return page

    def _issue(self) -> None:
        if self.busy.running:
            return
        self.set_errors({})
        self.message.clear_message()
        self.issue_requested.emit(self.reason_edit.text(), self.minutes_spin.value())

    def set_busy(self, on: bool, text: str = "") -> None:
        self.busy.show_while(on, text)
        self.issue_button.setEnabled(not on)

    def set_errors(self, errors: Mapping[str, str]) -> Sequence[str]:
        """Each message next to its field, in the app's language (and again in the next one;
        what was typed stays); returns the others."""
        for name, box in self.boxes.items():
            box.set_error(errors.get(name))
        first = next((name for name in self.boxes if errors.get(name)), None)
        if first is not None:
            self.boxes[first].editor.setFocus()
        return [text for name, text in errors.items() if name not in self.boxes]

    # ----- the code, once -------------------------------------------------------------

    def _code_page(self) -> QWidget:
        page = QWidget(self)
        self.read_out_label = QLabel(page)
        self.read_out_label.setWordWrap(True)
        self.code_label = QLabel(page)
        self.code_label.setObjectName("helpdeskCode")
        self.code_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(max(26, font.pointSize() * 2))
        font.setWeight(QFont.Weight.Bold)
        font.setLetterSpacing(QFont.SpacingType.AbsoluteSpacing, 2)
        self.code_label.setFont(font)
        self.code_label.setMinimumHeight(72)
        self.expiry_label = hint_label("", page)
        self.copy_button = QPushButton(page)
        self.copy_button.setObjectName("copyCodeButton")
        self.copy_button.setAutoDefault(False)
        self.copy_button.clicked.connect(self._copy)
        self.close_button = make_primary(QPushButton(page))
        self.close_button.setObjectName("closeCodeButton")
        self.close_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.read_out_label)
        layout.addWidget(self.code_label)
        layout.addWidget(self.expiry_label)
        layout.addStretch(1)
        layout.addLayout(buttons)
        return page

    def show_code(self, issued: IssuedCode) -> None:
        self._issued = issued
        self._show_texts(issued)
        self.code_label.setText(issued.grouped)
        self.pages.setCurrentIndex(1)
        self.close_button.setDefault(True)
        self.close_button.setFocus()

    def _show_texts(self, issued: IssuedCode) -> None:
        self.read_out_label.setText(
            self.tr("Read this code out to {name} ({login}):").format(
                name=self.name, login=issued.login
            )
        )
        replaced = self.tr(" It replaces the code issued before.") if issued.replaced else ""
        self.expiry_label.setText(
            self.tr(
                "Valid once, until {time}.{replaced} It is not shown again once you close "
                "this window."
            ).format(time=local_time(issued.expires_at), replaced=replaced)
        )

    def _copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(self.code_label.text().replace(" ", ""))

    def done(self, result: int) -> None:
        """Closing forgets the code (Close, Escape or the window's close button)."""
        self.code_label.clear()
        self._issued = None
        super().done(result)
