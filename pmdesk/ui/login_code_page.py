"""Step 2 of the login dialog: where the code went, the code box and its countdown, "Trust this
IP" (or why it cannot be ticked here) and "Send a new code". The dialog keeps the challenge and
its deadlines; this page shows them."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.icons import icon, pixmap
from pmdesk.ui.login_backend import format_duration, seconds_from
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import hint_label, repolish

if TYPE_CHECKING:
    from pmdesk.core.login_results import CodeNeeded, Refused


def code_timing(result: CodeNeeded) -> tuple[float | None, float]:
    """Seconds from now until the code expires (None: unknown), and until a new one may be
    asked for."""
    # The server's clock when the code was made: its deadlines are on that clock.
    server_now = result.expires_at - timedelta(seconds=float(result.valid_seconds))
    valid = seconds_from(result.valid_seconds, server_now)
    resend_in = seconds_from(result.resend_after, server_now)
    if result.delivery_error:
        # Nothing went out: "Send a new code" works at once (server_now is only known to
        # the second, which would otherwise hold the button back for up to half a second).
        resend_in = 0.0
    return valid, max(resend_in or 0.0, 0.0)


class LoginCodePage(Retranslating, QWidget):
    """The security-code step; ``trust_refused`` says why this address cannot be trusted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trust_refused: str | None = None
        self._refusal: object = None  # the core's reason, shown in the language of the moment
        self._sent: tuple[str | None, bool, bool, bool] | None = None  # show_sent's arguments
        self._countdown: float | None = None
        self._resend_wait: float | None = None
        self.sent_label = QLabel(self)
        self.sent_label.setWordWrap(True)
        self.sent_label.setObjectName("sentLabel")
        self.code_edit = QLineEdit(self)
        self.code_edit.setObjectName("codeEdit")
        self.code_edit.setMaxLength(6)
        self.code_edit.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly)
        self.countdown_label = QLabel(self)
        self.countdown_label.setObjectName("countdownLabel")
        self.countdown_label.setProperty("role", "countdown")
        self.trust_check = QCheckBox(self)
        self.trust_check.setObjectName("trustCheck")
        self.trust_hint_text = ""
        self.trust_hint = hint_label("", self)
        self.trust_hint.setObjectName("trustHint")
        self.trust_hint.setContentsMargins(24, 0, 0, 0)
        self.resend_button = QPushButton(icon("mail"), "", self)
        self.resend_button.setObjectName("resendButton")
        self.resend_button.setAutoDefault(False)
        self.code_edit.textChanged.connect(self._code_typed)
        self._layout_page()
        self.retranslate()

    def retranslate(self) -> None:
        # Short: the box shows its digits in a large font, and the placeholder shares it.
        self.code_edit.setPlaceholderText(self.tr("6-digit code"))
        self.code_edit.setAccessibleName(self.tr("Security code"))
        self.code_label.setText(self.tr("Security code"))
        self.trust_check.setText(self.tr("Trust this IP"))
        self.trust_hint_text = self.tr(
            "Only tick this on your office network, never at home or on public Wi-Fi."
        )
        if self._sent is not None:
            destination, resent, failed, helpdesk = self._sent
            self.show_sent(destination, resent=resent, failed=failed, helpdesk=helpdesk)
        self._show_trust_hint()
        self.show_countdown(self._countdown)
        self.show_resend_wait(self._resend_wait)

    def _layout_page(self) -> None:
        clock = QLabel(self)
        clock.setPixmap(pixmap("clock", 16, self.devicePixelRatioF()))
        countdown_row = QHBoxLayout()
        countdown_row.setSpacing(6)
        countdown_row.addWidget(clock)
        countdown_row.addWidget(self.countdown_label, 1)
        code_form = QFormLayout(self)
        code_form.setContentsMargins(0, 0, 0, 0)
        code_form.setVerticalSpacing(10)
        code_form.addRow(self.sent_label)
        self.code_label = QLabel(self)
        self.code_label.setBuddy(self.code_edit)
        code_form.addRow(self.code_label, self.code_edit)
        code_form.addRow("", countdown_row)
        trust_box = QVBoxLayout()
        trust_box.setSpacing(2)
        trust_box.addWidget(self.trust_check)
        trust_box.addWidget(self.trust_hint)
        code_form.addRow("", trust_box)
        resend_row = QHBoxLayout()
        resend_row.addWidget(self.resend_button)
        resend_row.addStretch(1)
        code_form.addRow("", resend_row)

    def show_sent(
        self, destination: str | None, *, resent: bool, failed: bool, helpdesk: bool = False
    ) -> None:
        """Where the code went (or that it could not be sent); ``helpdesk``: the person has a
        live helpdesk code (core.helpdesk), which the box takes as well."""
        self._sent = (destination, resent, failed, helpdesk)
        if failed:
            text = self.tr("The security code could not be sent.")
        elif not destination:
            text = self.tr("A security code was sent to you.")
        elif resent:
            text = self.tr("A new security code was sent to {destination}.")
        else:
            text = self.tr("A security code was sent to {destination}.")
        text = text.format(destination=destination)
        if helpdesk:
            text += " " + (
                self.tr("Enter the code the helpdesk gave you.")
                if failed
                else self.tr("Or enter the code the helpdesk gave you.")
            )
        self.sent_label.setText(text)
        # Room for a helpdesk code pasted in its groups ("1234 5678 9012"): spaces go.
        # Here, not at the top: nothing of pmdesk.core loads before the dialog is painted.
        from pmdesk.core.codes import CODE_LENGTH, HELPDESK_CODE_DIGITS

        self.code_edit.setMaxLength(HELPDESK_CODE_DIGITS + 2 if helpdesk else CODE_LENGTH)
        self.code_edit.setPlaceholderText(
            self.tr("6 or 12 digits") if helpdesk else self.tr("6-digit code")
        )

    def show_trust_refusal(self, reason: object, *, busy: bool) -> None:
        """An address that can never be trusted here: "Trust this IP" is off, disabled, and
        the reason is shown under it (and given to screen readers)."""
        self._refusal = reason or None
        self.trust_refused = str(reason) if reason else None
        if self.trust_refused:
            self.trust_check.setChecked(False)
        self._show_trust_hint()
        self.allow_trust(not busy)

    def _show_trust_hint(self) -> None:
        if self._refusal is not None:
            text = self.tr("Not available: {reason}").format(reason=localize(self._refusal))
            self.trust_hint.setText(text)
            self.trust_check.setToolTip(text)
            self.trust_check.setAccessibleDescription(text)
        else:
            self.trust_hint.setText(self.trust_hint_text)
            self.trust_check.setToolTip("")
            self.trust_check.setAccessibleDescription(self.trust_hint_text)

    def allow_trust(self, allowed: bool) -> None:
        self.trust_check.setEnabled(allowed and self.trust_refused is None)

    def wants_trust(self) -> bool:
        return self.trust_check.isChecked() and self.trust_refused is None

    def show_countdown(self, left: float | None) -> None:
        """Seconds the code is still valid for (None: no code)."""
        self._countdown = left
        if left is None:
            self.countdown_label.setText("")
            return
        expired = left <= 0
        self.countdown_label.setText(
            self.tr("This code has expired. Send a new code.")
            if expired
            else self.tr("Valid for {time}").format(time=format_duration(left))
        )
        if bool(self.countdown_label.property("expired")) != expired:
            self.countdown_label.setProperty("expired", expired)
            repolish(self.countdown_label)

    def show_resend_wait(self, left: float | None) -> None:
        """Seconds before a new code may be asked for (None: it may now)."""
        self._resend_wait = left
        if left is not None:
            seconds = int(left + 0.999)
            self.resend_button.setText(
                self.tr("Send a new code ({seconds} s)").format(seconds=QLocale().toString(seconds))
            )
        else:
            self.resend_button.setText(self.tr("Send a new code"))

    def refusal_text(self, result: Refused, *, on_code_step: bool) -> str:
        """The core's sentence; on the code step, the attempts left are added when it does
        not say them."""
        text = localize(result.message) if result.message else self.tr("Login refused.")
        attempts_left = result.attempts_left
        said = "attempt" in (result.message or "")  # the core's English sentence says it
        if on_code_step and attempts_left is not None and not said:
            if attempts_left == 1:
                text += " " + self.tr("1 attempt left.")
            elif attempts_left > 1:
                text += " " + self.tr("{n} attempts left.").format(
                    n=QLocale().toString(attempts_left)
                )
        return text

    def _code_typed(self, text: str) -> None:
        digits = "".join(ch for ch in text if "0" <= ch <= "9")
        if digits != text:
            self.code_edit.setText(digits)
