"""Small helpers shared by the System screens (Permissions, Security, Log)."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QDateTime, QLocale, Qt, QTimeZone
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


#: How a time is written: the day, the language's short month name, the year, 24-hour time
#: ("2 déc. 2026 14:05" in French, "2 Dec 2026 14:05" in English).
DATE_TIME_PATTERN = "d MMM yyyy HH:mm"


def local_time(value: datetime | None, *, seconds: bool = False) -> str:
    """A UTC time as the workstation's local time, in the app's language."""
    if value is None:
        return ""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moment = QDateTime.fromSecsSinceEpoch(int(aware.timestamp()))
    return QLocale().toString(moment, DATE_TIME_PATTERN + (":ss" if seconds else ""))


def local_date(value: datetime | None) -> str:
    """The local day of a UTC time, in the app's language ("2 déc. 2026")."""
    return local_time(value).rsplit(" ", 1)[0] if value is not None else ""


def utc_time(value: datetime | None) -> str:
    """A UTC time as UTC, with seconds, in the app's language ("2 Dec 2026 14:05:09 UTC")."""
    if value is None:
        return ""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moment = QDateTime.fromSecsSinceEpoch(int(aware.timestamp()), QTimeZone.utc())
    return QLocale().toString(moment, DATE_TIME_PATTERN + ":ss") + " UTC"


def local_number(value: float, decimals: int = 0) -> str:
    """A number the language's way: "1,234.50" in English, "1.234,50" in Dutch and French."""
    return (
        QLocale().toString(float(value), "f", decimals)
        if decimals
        else QLocale().toString(int(value))
    )


def local_money(value: float) -> str:
    """An amount in euro the language's way: "€1,234.50", "€ 1.234,50", "1.234,50 €"."""
    return QLocale().toCurrencyString(float(value), "€")


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
