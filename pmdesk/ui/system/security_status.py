"""System → Security's connection status: the database link, the code delivery link and this
workstation's address as the database sees it (the product's "HTTPS/SSL status")."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from pmdesk.core.security import ConnectionStatus
from pmdesk.ui.icons import pixmap
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import repolish


class ConnectionStatusBox(Retranslating, QGroupBox):
    """How the database and code delivery links are protected; red only for what is wrong."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBox")
        self.status: ConnectionStatus | None = None
        self.database_status = StatusLine("", self)
        self.database_status.setObjectName("databaseStatusLine")
        self.mail_status = StatusLine("", self)
        self.mail_status.setObjectName("mailStatusLine")
        self.address_label = QLabel("…", self)
        self.address_label.setObjectName("workstationAddress")
        self.address_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address_label.setStyleSheet("font-weight: bold;")
        self.address_caption = address_caption = QLabel(self)
        address_caption.setProperty("role", "muted")
        address_caption.setWordWrap(True)
        status_layout = QVBoxLayout(self)
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
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Connection security"))
        self.database_status.caption.setText(self.tr("Database connection"))
        self.mail_status.caption.setText(self.tr("Code delivery"))
        self.address_caption.setText(self.tr("This workstation's address, as the database sees it"))
        if self.status is not None:
            self.show_status(self.status)

    def show_status(self, status: ConnectionStatus) -> None:
        self.status = status
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
        self._show_mail_link(status)
        self.address_label.setText(status.workstation_address or self.tr("unknown"))

    def _show_mail_link(self, status: ConnectionStatus) -> None:
        """The mail link's line of the connection status: how codes go, then how they are
        protected on the way (red only when they would cross the network unencrypted)."""
        how = localize(status.mail_label)
        link = status.mail_link
        relay = status.relay
        if relay is not None:
            # A hardened database: the relay sends, so its heartbeat is what matters here.
            line = self.tr("Sent by the {relay}").format(relay=localize(relay.text))
            if relay.problem:
                line += "\n" + localize(relay.problem)
            if not relay.running:
                self.mail_status.set_state(
                    False, localize(relay.text) if not relay.problem else line
                )
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


class StatusLine(QWidget):
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
        # Green, red or dark: QLabel[statusState=…] in style.qss.
        self.value.setProperty("statusState", {True: "on", False: "off", None: "neutral"}[on])
        repolish(self.value)

    def text(self) -> str:
        return self.value.text()
