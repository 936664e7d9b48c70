"""The main window's status bar: who is signed in (and from where), and which database."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from pmdesk.ui.icons import pixmap
from pmdesk.ui.page_context import Session
from pmdesk.ui.translation import Retranslating, localize

# The widest a status-bar text may be (a database path is shortened in its middle).
STATUS_TEXT_WIDTH = 380

#: Where the database address came from (``Resolved.source``), as the tooltip says it; the
#: option and the variable keep their names.
SOURCES = {
    "settings file": str(QT_TRANSLATE_NOOP("DatabaseStatus", "settings file")),
    "embedded default": str(QT_TRANSLATE_NOOP("DatabaseStatus", "embedded default")),
}


def _source_text(source: str) -> str:
    if source not in SOURCES:
        return source
    return QCoreApplication.translate("DatabaseStatus", SOURCES[source])


class _IconLabel(Retranslating, QWidget):
    """A small icon and a text (the QLabel named "text")."""

    def __init__(self, icon_name: str, parent: QWidget) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(6)
        image = QLabel(self)
        image.setPixmap(pixmap(icon_name, 14, parent.devicePixelRatioF()))
        self.label = QLabel(self)
        self.label.setObjectName("text")
        row.addWidget(image)
        row.addWidget(self.label)


class UserStatus(_IconLabel):
    """ "Signed in as Jan Smets (jsmets) · from 10.0.0.5"."""

    def __init__(self, session: Session, parent: QWidget) -> None:
        super().__init__("user", parent)
        self.setObjectName("userStatus")
        self._session = session
        self.retranslate()

    def retranslate(self) -> None:
        session = self._session
        if session.address:
            text = self.tr("Signed in as {name} ({login})  ·  from {address}").format(
                name=session.display_name, login=session.login, address=session.address
            )
        else:
            text = self.tr("Signed in as {name} ({login})").format(
                name=session.display_name, login=session.login
            )
        self.label.setText(text)


class DatabaseStatus(_IconLabel):
    """Where the data lives; a long path is shortened in its middle (all of it in the tooltip):
    the status bar must not make the window wider than a small screen."""

    def __init__(self, where: str, url: str, source: str, parent: QWidget) -> None:
        """``where``: the core's words for the database (``describe_for_people``, translatable);
        ``url``: its address without a password; ``source``: where the setting came from."""
        super().__init__("database", parent)
        self.setObjectName("databaseStatus")
        self._where = where
        self._url = url
        self._source = source
        self.retranslate()

    def retranslate(self) -> None:
        where = localize(self._where)
        shown = self.fontMetrics().elidedText(
            where, Qt.TextElideMode.ElideMiddle, STATUS_TEXT_WIDTH
        )
        self.label.setText(shown)
        self.setToolTip(
            self.tr("{where}\nDatabase {url} ({source})").format(
                where=where,
                url=self._url,
                source=_source_text(self._source),
            )
        )
