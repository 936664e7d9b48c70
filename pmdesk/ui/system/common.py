"""Small helpers shared by the System screens (Permissions, Security, Log)."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)


def form_layout(vertical_spacing: int = 8) -> QFormLayout:
    layout = QFormLayout()
    layout.setVerticalSpacing(vertical_spacing)
    layout.setHorizontalSpacing(12)
    layout.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return layout


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


def spin_box(bounds: tuple[int, int], suffix: str, parent: QWidget) -> QSpinBox:
    """A settings' number field: its bounds, its unit after the number, a fixed width."""
    spin = QSpinBox(parent)
    spin.setRange(*bounds)
    spin.setSuffix(suffix)
    spin.setMinimumWidth(130)
    spin.setMaximumWidth(150)
    pad_spin_box(spin)
    spin.setAccelerated(True)
    return spin
