"""Small helpers shared by the System screens (Permissions, Security, Log)."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from pmdesk.ui.icons import icon_path


def form_layout() -> QFormLayout:
    layout = QFormLayout()
    layout.setVerticalSpacing(8)
    layout.setHorizontalSpacing(12)
    layout.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return layout


def section_title(text: str, parent: QWidget | None = None) -> QLabel:
    """A bold heading inside a panel ("HTTPS/SSL", "Info" in the seed)."""
    label = QLabel(text, parent)
    label.setProperty("role", "section")
    label.setStyleSheet("font-weight: bold; color: #33485f;")
    return label


def local_time(value: datetime | None, *, seconds: bool = False) -> str:
    """A UTC time as the workstation's local time, e.g. '2017-08-14 15:25'."""
    if value is None:
        return ""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def utc_time(value: datetime | None) -> str:
    if value is None:
        return ""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pad_spin_box(spin: QAbstractSpinBox) -> None:
    """Give the number the same left margin as the text in a QLineEdit."""
    edit = spin.findChild(QLineEdit)
    if edit is not None:
        edit.setTextMargins(4, 0, 0, 0)


def spin_box_style() -> str:
    """Up/down buttons for QSpinBox that match the flat inputs of style.qss."""
    up = icon_path("chevron-up").as_posix()
    down = icon_path("chevron-down").as_posix()
    return f"""
QSpinBox {{ padding: 4px 24px 4px 8px; }}
QSpinBox::up-button, QSpinBox::down-button {{
    subcontrol-origin: padding; width: 20px; border-left: 1px solid #dde3ea;
    background: #f7f9fc;
}}
QSpinBox::up-button {{ subcontrol-position: top right; border-top-right-radius: 4px; }}
QSpinBox::down-button {{ subcontrol-position: bottom right; border-bottom-right-radius: 4px; }}
QSpinBox::up-button:hover, QSpinBox::down-button:hover {{ background: #e8eef6; }}
QSpinBox::up-arrow {{ image: url("{up}"); width: 10px; height: 10px; }}
QSpinBox::down-arrow {{ image: url("{down}"); width: 10px; height: 10px; }}
QSpinBox::up-arrow:disabled, QSpinBox::down-arrow:disabled {{ image: none; }}
"""
