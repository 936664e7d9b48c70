"""The Access column of the Personnel form's Security box: one check per separate app of the
suite (Planning, Reception …) and the hint that says what they are not (pmdesk's rights)."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QWidget

from pmdesk.core.personnel import ACCESS_FLAGS
from pmdesk.ui.personnel.form_fields import field_labels
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import hint_label


class PersonAccess(Retranslating, QWidget):
    """``checks``: the flags by field name, labelled as the form labels them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.checks: dict[str, QCheckBox] = {}
        for name in ACCESS_FLAGS:
            check = QCheckBox(self)
            check.setObjectName(f"{name}Check")
            self.checks[name] = check
        flags = QGridLayout(self)
        flags.setContentsMargins(0, 0, 0, 0)
        flags.setVerticalSpacing(8)
        flags.setHorizontalSpacing(16)
        self.title = QLabel(self)
        self.title.setProperty("role", "muted")
        flags.addWidget(self.title, 0, 0, 1, 2)
        for i, name in enumerate(ACCESS_FLAGS):
            flags.addWidget(self.checks[name], 1 + i % 3, i // 3)
        self.hint = hint_label("", self)
        self.hint.setObjectName("accessHint")
        flags.addWidget(self.hint, 4, 0, 1, 2)
        flags.setRowStretch(5, 1)
        self.retranslate()

    def retranslate(self) -> None:
        self.title.setText(self.tr("Access"))
        self.hint.setText(
            self.tr(
                "Lets this person open the suite's separate apps. What they may see and do "
                "in pmdesk comes from their user group (System → Permissions)."
            )
        )
        labels = field_labels()
        for name, check in self.checks.items():
            check.setText(labels[name])
            check.setAccessibleDescription(self.hint.text())
