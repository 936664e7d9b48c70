"""Personnel's right side: the edit form in its scroll area, the view-only notice, Delete and
Save, and the spinner of the page's operations.

Only widgets: what Save and Delete do, and when they are enabled, is the page's business.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from pmdesk.ui.icons import icon
from pmdesk.ui.personnel.form import PersonEditor
from pmdesk.ui.scrolling import follow_focus
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import BusyIndicator, MessageLabel, make_danger, make_primary


class PersonFormPanel(Retranslating, QWidget):
    """The form (``editor``) with ``save_button``, ``delete_button`` and ``busy`` below it."""

    def __init__(self, *, can_edit: bool, parent: QWidget) -> None:
        super().__init__(parent)
        self._can_edit = can_edit
        self.editor = PersonEditor(self)
        self.editor.set_editable(can_edit)
        self._build_scroll()
        self.busy = BusyIndicator(self)
        self.save_button = make_primary(QPushButton(icon("save-light"), "", self))
        self.save_button.setObjectName("saveButton")
        self.delete_button = make_danger(QPushButton(icon("delete"), "", self))
        self.delete_button.setObjectName("deleteButton")
        # Said once, above the form: a greyed form alone did not tell why nothing could change.
        self.view_only_message = MessageLabel(self)
        self.view_only_message.setObjectName("viewOnlyMessage")
        self._layout_panel()
        self.retranslate()

    def retranslate(self) -> None:
        self.save_button.setText(self.tr("Save"))
        self.delete_button.setText(self.tr("Delete"))
        if not self._can_edit:
            self.view_only_message.show_notice(
                self.tr(
                    "View only: you have Read rights on Maintenance. Changing people needs "
                    "Edit rights (System → Permissions)."
                )
            )
        empty = self.tr("Nobody is in the personnel list yet.")
        if self._can_edit:
            empty += " " + self.tr("Click New to add the first person.")
        self.empty_label.setText(empty)

    def _build_scroll(self) -> None:
        """The form and the "nobody yet" notice, in a scroll area."""
        scroll = follow_focus(QScrollArea(self))
        scroll.setObjectName("editorScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # Scrolls rather than cutting off its right column when narrower than the form.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        holder = QWidget(scroll)
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(6, 12, 12, 6)
        self.empty_label = QLabel(holder)
        self.empty_label.setObjectName("personnelEmpty")
        self.empty_label.setProperty("role", "muted")
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        holder_layout.addWidget(self.empty_label)
        holder_layout.addWidget(self.editor)
        scroll.setWidget(holder)
        self.editor_scroll = scroll
        self.editor_holder = holder

    def _layout_panel(self) -> None:
        buttons = QHBoxLayout()
        buttons.setContentsMargins(6, 6, 12, 12)
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.save_button)
        notice_row = QVBoxLayout()
        notice_row.setContentsMargins(6, 12, 12, 0)  # the form's own margins (holder_layout)
        notice_row.addWidget(self.view_only_message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(notice_row)
        layout.addWidget(self.editor_scroll, 1)
        layout.addLayout(buttons)

    def show_empty(self, empty: bool) -> None:
        """The "nobody yet" notice instead of the form, or the form."""
        self.empty_label.setVisible(empty)
        self.editor.setVisible(not empty)

    def reveal_message(self) -> None:
        """Scroll the form up to its message: on a small screen the user is down at Save."""
        layout = self.editor.layout()
        if layout is not None:
            layout.activate()  # the message was hidden until now: place it first
        self.editor_scroll.ensureWidgetVisible(self.editor.message, 0, 0)
