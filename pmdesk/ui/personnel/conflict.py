"""Another workstation saved the same person: show yours against theirs, let the user choose."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.personnel import PersonForm, PersonRecord
from pmdesk.ui.dialog_heading import dialog_heading
from pmdesk.ui.icons import app_icon, pixmap
from pmdesk.ui.personnel.form import PersonEditor
from pmdesk.ui.personnel.money import hourly_cost_text
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import hint_label, make_primary

translate = QCoreApplication.translate

SECRET_FIELDS = frozenset({"password", "password_confirm"})


def differences(mine: PersonForm, theirs: PersonForm) -> list[str]:
    """The fields whose values differ (never the password fields)."""
    return [
        f.name
        for f in fields(PersonForm)
        if f.name not in SECRET_FIELDS and getattr(mine, f.name) != getattr(theirs, f.name)
    ]


class ConflictDialog(Retranslating, QDialog):
    """Choices: ``OVERWRITE`` (save mine over theirs), ``RELOAD`` (load theirs), or keep editing."""

    KEEP_EDITING, OVERWRITE, RELOAD = 0, 1, 2

    def __init__(
        self,
        mine: PersonForm,
        theirs: PersonRecord,
        labels: dict[str, str],
        describe: Callable[[str, object], str],
        parent: QWidget | None = None,
        *,
        can_overwrite: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conflictDialog")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(560)
        self.choice = self.KEEP_EDITING
        self.mine = mine
        self.theirs = theirs
        self.fields = differences(mine, theirs.form)
        self._labels = labels  # the form's, which follow the language
        self._describe = describe

        heading = self._build_heading()
        self.table = self._build_table()
        note = self._build_note(mine)
        buttons = self._build_buttons(can_overwrite=can_overwrite)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.setSpacing(12)
        layout.addLayout(heading)
        layout.addWidget(self.table)
        layout.addWidget(note)
        layout.addLayout(buttons)
        self.retranslate()

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("Changed on another workstation"))
        self.title.setText(
            self.tr("{name} was changed on another workstation since you opened it.").format(
                name=self.theirs.display_name
            )
        )
        self.explain.setText(
            self.tr(
                "Nothing was saved. Your changes are still in the form. Compare them with the "
                "values saved meanwhile:"
            )
            if self.fields
            else self.tr("Nothing was saved. The other workstation's values are the same as yours.")
        )
        self.table.setHorizontalHeaderLabels(
            [self.tr("Field"), self.tr("Yours"), self.tr("Theirs (saved)")]
        )
        self._fill_table()
        self.note.setText(
            self.tr("Your new password is kept in the form and saved with yours.")
            if self.mine.password
            else ""
        )
        self.overwrite_button.setText(self.tr("Save mine over theirs"))
        self.reload_button.setText(self.tr("Discard mine, load theirs"))
        self.keep_button.setText(self.tr("Keep editing"))
        layout = self.layout()
        if layout is not None:  # as wide as the language's buttons and titles need
            self.setMinimumWidth(max(560, layout.totalMinimumSize().width()))

    def _build_heading(self) -> QHBoxLayout:
        """The warning icon, then what happened (with or without differences to compare)."""
        heading = dialog_heading(self, pixmap("warning", 32, self.devicePixelRatioF()), "conflict")
        self.title, self.explain = heading.title, heading.explain
        return heading.layout

    def _build_table(self) -> QTableWidget:
        """Field, yours, theirs: one row per field that differs (hidden when none does)."""
        table = QTableWidget(len(self.fields), 3, self)
        table.setObjectName("conflictTable")
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setTabKeyNavigation(False)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setWordWrap(False)
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setDefaultSectionSize(28)
        shown_rows = min(len(self.fields), 10)
        table.setFixedHeight(
            header.sizeHint().height()
            + table.verticalHeader().defaultSectionSize() * shown_rows
            + 2 * table.frameWidth()
            + 2
        )
        table.setVisible(bool(self.fields))
        return table

    def _fill_table(self) -> None:
        """Field, yours, theirs, as the form shows them in the app's language."""
        mine_brush = QBrush(QColor("#e8f1fd"))
        theirs_brush = QBrush(QColor("#fff4e0"))
        describe = self._describe
        for row, name in enumerate(self.fields):
            cells = [
                self._labels.get(name, name),
                describe(name, getattr(self.mine, name)),
                describe(name, getattr(self.theirs.form, name)),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text or "—")
                item.setToolTip(text)
                if column == 1:
                    item.setBackground(mine_brush)
                elif column == 2:
                    item.setBackground(theirs_brush)
                self.table.setItem(row, column, item)

    def _build_note(self, mine: PersonForm) -> QLabel:
        """What happens to a new password typed in the form (hidden when none was)."""
        self.note = hint_label("", self)
        self.note.setVisible(bool(mine.password))
        return self.note

    def _build_buttons(self, *, can_overwrite: bool) -> QHBoxLayout:
        """Discard mine, then Keep editing (the default) and Save mine over theirs."""
        self.overwrite_button = make_primary(QPushButton(self))
        self.overwrite_button.setObjectName("overwriteButton")
        self.overwrite_button.setEnabled(can_overwrite)
        self.overwrite_button.clicked.connect(lambda: self._choose(self.OVERWRITE))
        self.reload_button = QPushButton(self)
        self.reload_button.setObjectName("reloadButton")
        self.reload_button.clicked.connect(lambda: self._choose(self.RELOAD))
        self.keep_button = QPushButton(self)
        self.keep_button.setObjectName("keepButton")
        self.keep_button.clicked.connect(self.reject)
        for button in (self.overwrite_button, self.reload_button, self.keep_button):
            button.setAutoDefault(False)
        self.keep_button.setDefault(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reload_button)
        buttons.addStretch(1)
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.overwrite_button)
        return buttons

    def _choose(self, choice: int) -> None:
        self.choice = choice
        self.accept()


def open_conflict_dialog(
    parent: QWidget,
    editor: PersonEditor,
    theirs: PersonRecord,
    *,
    can_overwrite: bool,
    overwrite: Callable[[], None],
    reload: Callable[[], None],
    closed: Callable[[], None],
) -> ConflictDialog:
    """Open (not modal to the app) the dialog for what is typed in ``editor`` against
    ``theirs``; values are shown as the form shows them (Yes / No, a group's name for its id).
    When it closes: ``closed()``, then ``overwrite()``, ``reload()``, or (Keep editing) the
    form says that nothing was saved."""

    def describe(name: str, value: object) -> str:
        if isinstance(value, bool):
            yes, no = translate("ConflictDialog", "Yes"), translate("ConflictDialog", "No")
            return yes if value else no
        if name == "hourly_cost" and isinstance(value, str):
            return hourly_cost_text(value)
        if name.endswith("_id"):
            return editor.choice_name(name, value if isinstance(value, int) else None)
        return "" if value is None else str(value)

    def finished(_result: int) -> None:
        closed()
        if dialog.choice == ConflictDialog.OVERWRITE:
            overwrite()
        elif dialog.choice == ConflictDialog.RELOAD:
            reload()
        else:
            editor.message.show_error(
                translate(
                    "ConflictDialog",
                    "Not saved: {name} was changed on another workstation. Your changes are "
                    "still in the form.",
                ).format(name=theirs.display_name)
            )

    dialog = ConflictDialog(
        editor.form(), theirs, editor.labels, describe, parent, can_overwrite=can_overwrite
    )
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.finished.connect(finished)
    dialog.open()
    return dialog
