"""The top of a dialog that warns or asks: an icon, then a bold title over what it means."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget


@dataclass(frozen=True)
class DialogHeading:
    layout: QHBoxLayout
    icon: QLabel
    title: QLabel
    explain: QLabel


def dialog_heading(parent: QWidget, image: QPixmap, name: str) -> DialogHeading:
    """The icon (top-aligned), the title (object name ``<name>Title``) and the text under it
    (``<name>Text``); both texts wrap, and are set by the dialog's ``retranslate()``."""
    icon = QLabel(parent)
    icon.setPixmap(image)
    icon.setAlignment(Qt.AlignmentFlag.AlignTop)
    title = QLabel(parent)
    title.setObjectName(f"{name}Title")
    title.setWordWrap(True)
    title.setStyleSheet("font-weight: bold;")
    explain = QLabel(parent)
    explain.setObjectName(f"{name}Text")
    explain.setWordWrap(True)
    texts = QVBoxLayout()
    texts.setSpacing(6)
    texts.addWidget(title)
    texts.addWidget(explain)
    layout = QHBoxLayout()
    layout.setSpacing(12)
    layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
    layout.addLayout(texts, 1)
    return DialogHeading(layout, icon, title, explain)
