"""Maintenance → Organisation → Personnel: the staff list and the edit form side by side."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.changes import PERSONNEL, TRUSTED_IPS
from pmdesk.core.errors import (
    ConflictError,
    NotFound,
)
from pmdesk.core.modules import MAINTENANCE, SYSTEM_SECURITY, Action
from pmdesk.core.personnel import Lookups, PersonForm, PersonnelService, PersonRecord
from pmdesk.core.screens import PersonDetails, person_details, server_now
from pmdesk.core.sessions import SessionService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import list_table, search_box
from pmdesk.ui.message_boxes import ask, ask_discard
from pmdesk.ui.ops import Operations, indicator
from pmdesk.ui.personnel.conflict import ConflictDialog
from pmdesk.ui.personnel.form import PersonEditor
from pmdesk.ui.personnel.model import (
    COLUMNS,
    PERSON_ID_ROLE,
    PersonnelModel,
    PersonnelSource,
)
from pmdesk.ui.scrolling import follow_focus
from pmdesk.ui.widgets import BusyIndicator, MessageLabel, make_danger, make_primary

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageContext


ROW_HEIGHT = 26
SEARCH_DELAY_MS = 250
COLUMN_WIDTHS = (120, 105, 70, 90, 190, 110, 70)
# What the Usergroup, Location, Language and Team lists are read from.
LOOKUP_TABLES = frozenset({"user_groups", "locations", "languages", "teams"})


class PersonnelPage(QWidget):
    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("personnelPage")
        self.context = context
        self.app = context.app
        self.session = context.session
        self.tasks = context.tasks
        self.actor = context.session.actor
        self.service = PersonnelService(self.app.context, context.passwords)
        self.can_edit = self.session.can(MAINTENANCE, Action.EDIT)
        self.can_delete = self.session.can(MAINTENANCE, Action.DELETE)
        # TrustedIpService.remove_for_person: Maintenance Edit or System → Security Delete.
        self.can_remove_ips = self.can_edit or self.session.can(SYSTEM_SECURITY, Action.DELETE)
        self._reselect_id: int | None = None
        self._lookups: Lookups | None = None
        self._current_id: int | None = None
        # Another workstation, the expiry sweep or System → Security changed trusted addresses.
        context.changes.subscribe(self, {TRUSTED_IPS}, self._trusted_ips_changed_elsewhere)
        # Groups, locations, languages or teams changed (here or elsewhere): the lists follow.
        context.changes.subscribe(self, LOOKUP_TABLES, self._tables_changed)
        self._pending_row: int | None = None
        # New was clicked: the empty form stays until a person is opened (a list refresh must
        # not replace it with the first person).
        self._creating = False
        self.conflict_dialog: ConflictDialog | None = None

        core = self.app.context

        self.model = PersonnelModel(
            PersonnelSource(self.service, self.actor, partial(server_now, core)), self.tasks, self
        )
        self.model.refreshed.connect(self._list_refreshed)
        self.model.dataChanged.connect(self._rows_arrived)
        self.model.failed.connect(self._list_failed)

        left = self._build_list()
        right = self._build_form()
        self._layout_page(left, right)

        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        QShortcut(QKeySequence.StandardKey.New, self, self.new_person)
        QShortcut(QKeySequence.StandardKey.Find, self, self._focus_search)
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)

        self._update_buttons()
        self._load_lookups()
        self.model.refresh()

    def _layout_page(self, left: QWidget, right: QWidget) -> None:
        """The list and the form side by side; Tab as the page reads."""
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("personnelSplitter")
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setChildrenCollapsible(False)
        # The form keeps the width it needs (at 1024 px it was cut off); the list gives way.
        scroll = self.editor_scroll
        right.setMinimumWidth(
            self.editor_holder.minimumSizeHint().width()
            + scroll.verticalScrollBar().sizeHint().width()
        )
        splitter.setSizes([500, 740])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        # Tab as the page reads: the search row, the list, the form, then Delete and Save.
        chain = [self.search_edit, self.refresh_button, self.new_button, self.table]
        chain += [*self.editor.tab_chain(), self.delete_button, self.save_button]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _build_list(self) -> QWidget:
        """The search row, the staff list and its count."""
        self.search_edit, self._search_timer = search_box(
            self,
            "searchEdit",
            self.tr("Search name, number, login or e-mail"),
            SEARCH_DELAY_MS,
            self._apply_search,
            label=self.tr("Search personnel"),
        )

        self.new_button = make_primary(QPushButton(icon("add-light"), self.tr("New"), self))
        self.new_button.setObjectName("newButton")
        self.new_button.setEnabled(self.can_edit)
        self.new_button.clicked.connect(self.new_person)
        self.refresh_button = QToolButton(self)
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.setIcon(icon("refresh"))
        self.refresh_button.setToolTip(self.tr("Reload the list (F5)"))
        self.refresh_button.setAccessibleName(self.tr("Reload the list"))
        self.refresh_button.clicked.connect(self.refresh)

        self.table = list_table(
            self,
            "personnelTable",
            self.model,
            ROW_HEIGHT,
            QAbstractItemView.SelectionMode.SingleSelection,
        )
        self.table.setAccessibleName(self.tr("Personnel"))
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSortIndicatorShown(True)
        for column, width in enumerate(COLUMN_WIDTHS):
            header.resizeSection(column, width)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        header.sortIndicatorChanged.connect(self._sort_changed)
        self.table.selectionModel().currentRowChanged.connect(self._row_chosen)

        self.count_label = QLabel(self)
        self.count_label.setObjectName("countLabel")
        self.count_label.setProperty("role", "muted")
        self.list_message = MessageLabel(self)
        self.list_message.setObjectName("listMessage")

        search_row = QHBoxLayout()
        search_row.setSpacing(6)
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.refresh_button)
        search_row.addWidget(self.new_button)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(12, 12, 6, 12)
        left_layout.setSpacing(8)
        left_layout.addLayout(search_row)
        left_layout.addWidget(self.list_message)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.count_label)
        return left

    def _build_form(self) -> QWidget:
        """The edit form in its scroll area, the view-only notice, Delete and Save."""
        self.editor = PersonEditor(self)
        self.editor.set_editable(self.can_edit)
        self.editor.changed.connect(self._update_buttons)
        self.editor.unlock_requested.connect(self.unlock)
        self.editor.remove_ips_requested.connect(self.remove_trusted_ips)
        self.editor.end_sessions_requested.connect(self.end_sessions)
        scroll = follow_focus(QScrollArea(self))
        scroll.setObjectName("editorScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # Scrolls rather than cutting off its right column when narrower than the form.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        holder = QWidget(scroll)
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(6, 12, 12, 6)
        self.empty_label = QLabel(
            self.tr("Nobody is in the personnel list yet.")
            + (" " + self.tr("Click New to add the first person.") if self.can_edit else ""),
            holder,
        )
        self.empty_label.setObjectName("personnelEmpty")
        self.empty_label.setProperty("role", "muted")
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        holder_layout.addWidget(self.empty_label)
        holder_layout.addWidget(self.editor)
        scroll.setWidget(holder)
        self.editor_scroll = scroll
        self.editor_holder = holder

        self.busy = BusyIndicator(self)
        self._build_operations()
        self.save_button = make_primary(QPushButton(icon("save-light"), self.tr("Save"), self))
        self.save_button.setObjectName("saveButton")
        self.save_button.clicked.connect(self.save)
        self.delete_button = make_danger(QPushButton(icon("delete"), self.tr("Delete"), self))
        self.delete_button.setObjectName("deleteButton")
        self.delete_button.clicked.connect(self.delete)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(6, 6, 12, 12)
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.save_button)
        # Said once, above the form: a greyed form alone did not tell why nothing could change.
        self.view_only_message = MessageLabel(self)
        self.view_only_message.setObjectName("viewOnlyMessage")
        if not self.can_edit:
            self.view_only_message.show_notice(
                self.tr(
                    "View only: you have Read rights on Maintenance. Changing people needs "
                    "Edit rights (System → Permissions)."
                )
            )
        notice_row = QVBoxLayout()
        notice_row.setContentsMargins(6, 12, 12, 0)  # the form's own margins (holder_layout)
        notice_row.addWidget(self.view_only_message)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addLayout(notice_row)
        right_layout.addWidget(scroll, 1)
        right_layout.addLayout(buttons)
        return right

    # ----- list ---------------------------------------------------------------------------

    def _focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()

    def refresh(self) -> None:
        self._reselect_id = self._current_id
        self.model.refresh()
        self._load_lookups()

    def _tables_changed(self, _tables: frozenset[str]) -> None:
        self._load_lookups()

    def showEvent(self, event: QShowEvent) -> None:
        """Coming back from System → Permissions: offer the groups made there at once."""
        super().showEvent(event)
        if self._lookups is not None:
            self._load_lookups()

    def _apply_search(self) -> None:
        self._search_timer.stop()
        self.model.set_search(self.search_edit.text())

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        if COLUMNS[column].sort_key is None:
            # Not sortable (computed from the clock): put the indicator back.
            header = self.table.horizontalHeader()
            header.blockSignals(True)
            previous = (
                Qt.SortOrder.DescendingOrder
                if self.model.descending
                else Qt.SortOrder.AscendingOrder
            )
            header.setSortIndicator(self.model.sort_column, previous)
            header.blockSignals(False)
            return
        self._reselect_id = self._current_id
        self.model.sort(column, order)

    def _list_refreshed(self) -> None:
        self._pending_row = None
        self.list_message.clear_message()
        total = self.model.total
        if self.model.search:
            text = (
                self.tr("1 person matches")
                if total == 1
                else self.tr("{n} people match").format(n=f"{total:,}")
            )
        else:
            text = (
                self.tr("1 person") if total == 1 else self.tr("{n} people").format(n=f"{total:,}")
            )
        self.count_label.setText(text)
        if self._reselect_id is not None:
            row = self.model.row_of(self._reselect_id)
            if row is not None:
                self._select_row(row)
            self._reselect_id = None
        self._show_empty(total == 0 and not self.model.search and not self._creating)
        if self._current_id is None and not self._creating and not self.editor.is_dirty():
            self._open_first()

    def _open_first(self) -> None:
        """With nobody open (at the start, after a delete), show the first person rather than
        an empty "New person" form."""
        if self.model.rowCount() == 0:
            return
        self._select_row(0)
        person_id = self.model.data(self.model.index(0, 0), PERSON_ID_ROLE)
        if person_id is None:
            self._pending_row = 0  # its block is on its way (see _rows_arrived)
        else:
            self.open_person(int(person_id), keep_message=True)

    def _show_empty(self, empty: bool) -> None:
        self.empty_label.setVisible(empty)
        self.editor.setVisible(not empty)

    def _rows_arrived(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        row = self._pending_row
        if row is None or not top_left.row() <= row <= bottom_right.row():
            return
        current = self.table.selectionModel().currentIndex()
        if current.isValid() and current.row() == row:
            self._row_chosen(current, QModelIndex())
        else:
            self._pending_row = None

    def _list_failed(self, exc: object) -> None:
        self.list_message.show_error(error_text(exc, self.tr("The list could not be loaded")))

    def _select_row(self, row: int) -> None:
        selection = self.table.selectionModel()
        selection.blockSignals(True)
        index = self.model.index(row, 0)
        selection.setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        selection.blockSignals(False)
        self.table.scrollTo(index)

    def _row_chosen(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            return
        person_id = self.model.data(current, PERSON_ID_ROLE)
        if person_id is None:
            # Its block is on its way: open it when it arrives (see _rows_arrived).
            self._pending_row = current.row()
            return
        self._pending_row = None
        if person_id == self._current_id:
            return

        def go() -> None:
            self.open_person(int(person_id))

        if self.editor.is_dirty():
            previous_id = self._current_id

            def stay() -> None:
                row = self.model.row_of(previous_id) if previous_id is not None else None
                if row is not None:
                    self._select_row(row)
                else:
                    self.table.selectionModel().clearSelection()

            self._ask_discard(go, stay)
        else:
            go()

    # ----- opening ------------------------------------------------------------------------

    def _load_lookups(self) -> None:
        self.lookups_loading.run(self.service.lookups, self._lookups_arrived)

    def _lookups_arrived(self, lookups: Lookups) -> None:
        self._lookups = lookups
        dirty = self.editor.is_dirty()
        self.editor.set_lookups(lookups)
        if not dirty and self.editor.record is None and self._current_id is None:
            self.editor.clear_for_new()
        self._update_buttons()

    def open_person(self, person_id: int, *, keep_message: bool = False) -> None:
        """Load a person into the form (on a worker), with the lock state and trusted IPs."""
        self._current_id = person_id
        self.extras_loading.cancel()
        self.opening.run(
            self._loader(person_id),
            lambda loaded: self._show_loaded(loaded, keep_message=keep_message),
        )

    def _not_found_on_open(self, exc: NotFound) -> None:
        self._current_id = None
        self.editor.clear_for_new()
        self.model.refresh()
        self._show_error(exc)

    def _show_loaded(self, loaded: PersonDetails, *, keep_message: bool = False) -> None:
        record = loaded.record
        self._current_id = record.id
        self._creating = False
        self.editor.load(record)
        locked = record.locked_until is not None and record.locked_until > loaded.server_now
        self.editor.set_lock_state(record.locked_until, locked, record.failed_logins)
        if loaded.trusted_ips is None:
            self.editor.ip_box.hide()
        else:
            self.editor.set_trusted_ips(loaded.trusted_ips, can_remove=self.can_remove_ips)
        own = record.id == self.session.person_id
        self.editor.set_sessions(loaded.sessions, can_end=self.can_edit or own)
        if not keep_message:
            self.editor.message.clear_message()
        self._update_buttons()

    def new_person(self) -> None:
        if not self.can_edit:
            return

        def go() -> None:
            self.opening.cancel()
            self.extras_loading.cancel()
            self._current_id = None
            self._creating = True
            self._show_empty(False)
            self.table.selectionModel().clearSelection()
            self.editor.clear_for_new(PersonForm(visible=True))
            self.editor.edits["last_name"].setFocus()
            self._update_buttons()

        if self.editor.is_dirty():
            self._ask_discard(go)
        else:
            go()

    # ----- saving -------------------------------------------------------------------------

    def save(self) -> None:
        if self._busy or not self.can_edit:
            return
        record = self.editor.record
        self._save(record.version if record else None)

    def _save(self, expected_version: int | None) -> None:
        form = self.editor.form()
        record = self.editor.record
        service, actor = self.service, self.actor
        call: Callable[[], PersonRecord]
        if record is None:

            def call() -> PersonRecord:
                return service.create(actor, form)
        else:
            person_id = record.id
            version = expected_version if expected_version is not None else record.version

            def call() -> PersonRecord:
                return service.update(actor, person_id, version, form)

        self.editor.message.clear_message()
        self.saving.run(call, self._saved)

    def _saved(self, record: PersonRecord) -> None:
        self.editor.mark_saved(record)
        self.editor.message.show_success(self.tr("{name} saved.").format(name=record.display_name))
        self._reveal_message()
        self._reselect_id = record.id
        self.model.refresh()
        self.open_person(record.id, keep_message=True)

    def _save_conflict(self, exc: ConflictError) -> None:
        """Personnel's own conflict dialog: theirs against what is typed, field by field."""
        self.editor.message.show_error(str(exc))
        current = exc.current
        if isinstance(current, PersonRecord):
            self._show_conflict(current)
        elif self.editor.record is not None:
            self._fetch_for_conflict(self.editor.record.id)

    def _saved_person_gone(self, exc: NotFound) -> None:
        self.editor.detach()
        self.editor.message.show_error(
            str(exc) + " " + self.tr("Your input is still here: Save adds it as a new person.")
        )
        self.model.refresh()

    def _after_save_failed(self) -> None:
        self._reveal_message()
        self._update_buttons()

    def _fetch_for_conflict(self, person_id: int) -> None:
        service, actor = self.service, self.actor
        self.conflict_fetching.run(lambda: service.get(actor, person_id), self._show_conflict)

    def _show_conflict(self, theirs: PersonRecord) -> None:
        mine = self.editor.form()
        dialog = ConflictDialog(
            mine,
            theirs,
            self.editor.labels,
            self._describe,
            self,
            can_overwrite=self.can_edit,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.conflict_dialog = dialog

        def finished(_result: int) -> None:
            self.conflict_dialog = None
            if dialog.choice == ConflictDialog.OVERWRITE:
                self._save(theirs.version)
            elif dialog.choice == ConflictDialog.RELOAD:
                self.open_person(theirs.id)
            else:
                self.editor.message.show_error(
                    self.tr(
                        "Not saved: {name} was changed on another workstation. Your changes are "
                        "still in the form."
                    ).format(name=theirs.display_name)
                )

        dialog.finished.connect(finished)
        dialog.open()

    def _describe(self, name: str, value: object) -> str:
        if isinstance(value, bool):
            return self.tr("Yes") if value else self.tr("No")
        if name.endswith("_id"):
            return self.editor.choice_name(name, value if isinstance(value, int) else None)
        return "" if value is None else str(value)

    # ----- delete, unlock, trusted addresses ----------------------------------------------

    def delete(self) -> None:
        record = self.editor.record
        if self._busy or record is None or not self.can_delete:
            return
        service, actor = self.service, self.actor

        def confirmed() -> None:
            self.deleting.run(
                lambda: service.delete(actor, record.id, record.version),
                lambda _none: self._deleted(record),
            )

        ask(
            self,
            self.tr("Delete person"),
            self.tr("Delete {name}?").format(name=record.display_name),
            self.tr("Delete"),
            confirmed,
            danger=True,
            informative=self.tr(
                "Their login and trusted IP addresses are removed too. This cannot be undone."
            ),
        )

    def _deleted(self, record: PersonRecord) -> None:
        self._current_id = None
        self.editor.clear_for_new()
        self.editor.message.show_success(
            self.tr("{name} was deleted.").format(name=record.display_name)
        )
        self.model.refresh()

    def unlock(self) -> None:
        record = self.editor.record
        if self._busy or record is None or not self.can_edit:
            return
        service, actor = self.service, self.actor

        def done(_none: object) -> None:
            self.editor.message.show_success(
                self.tr("{name} can sign in again.").format(name=record.display_name)
            )
            self.model.refresh()
            self._refresh_extras(record.id)

        self.unlocking.run(lambda: service.unlock(actor, record.id), done)

    def end_sessions(self) -> None:
        record = self.editor.record
        if self._busy or record is None:
            return
        core, actor = self.app.context, self.actor

        def confirmed() -> None:
            def done(ended: int) -> None:
                self.editor.message.show_success(
                    self.tr("{name} is signed out everywhere ({n} sessions ended).").format(
                        name=record.display_name, n=ended
                    )
                )
                self._refresh_extras(record.id)

            self.ending_sessions.run(
                lambda: SessionService(core).end_for_person(actor, record.id), done
            )

        ask(
            self,
            self.tr("End sessions"),
            self.tr("Sign {name} out everywhere?").format(name=record.display_name),
            self.tr("End sessions"),
            confirmed,
            danger=True,
            informative=self.tr(
                "Their desktop apps return to the login dialog within a minute, and their "
                "command-line sessions stop working. They can sign in again."
            ),
        )

    def remove_trusted_ips(self, ids: list[int]) -> None:
        record = self.editor.record
        if self._busy or record is None or not ids:
            return
        core, actor = self.app.context, self.actor

        def confirmed() -> None:
            def remove() -> object:
                return TrustedIpService(core).remove_for_person(actor, record.id, ids)

            def done(_result: object) -> None:
                self.editor.message.show_success(self.tr("Trusted address removed."))
                self._refresh_extras(record.id)

            self.removing_ips.run(remove, done)

        ask(
            self,
            self.tr("Remove trusted address"),
            self.tr("Remove this trusted address of {name}?").format(name=record.display_name),
            self.tr("Remove"),
            confirmed,
            danger=True,
            informative=self.tr("Logins from there will need a security code again."),
        )

    def _trusted_ips_changed_elsewhere(self, _tables: frozenset[str] = frozenset()) -> None:
        if self._current_id is not None:
            self._refresh_extras(self._current_id)

    def _refresh_extras(self, person_id: int) -> None:
        """Reload lock state and trusted IPs without touching what is typed in the form."""
        if not self.editor.is_dirty():
            self.open_person(person_id, keep_message=True)
            return
        typed = self.editor.form()

        def keep_typing(loaded: PersonDetails) -> None:
            self._show_loaded(loaded, keep_message=True)
            self.editor.set_form(typed)
            self._update_buttons()

        self.extras_loading.run(self._loader(person_id), keep_typing)

    def _loader(self, person_id: int) -> Callable[[], PersonDetails]:
        """Reads a person with their trusted addresses and open sessions (on a worker)."""
        return partial(person_details, self.app.context, self.service, self.actor, person_id)

    def _person_gone(self, exc: NotFound) -> None:
        self._current_id = None
        self.editor.detach()
        self.model.refresh()
        self._show_error(exc, self.editor.message)

    # ----- helpers ------------------------------------------------------------------------

    def _ask_discard(
        self, proceed: Callable[[], None], stay: Callable[[], None] | None = None
    ) -> None:
        name = self.editor.record.display_name if self.editor.record else self.tr("the new person")
        text = self.tr("Discard your changes to {name}?").format(name=name)
        ask_discard(self, text, proceed, on_keep=stay)

    def _show_error(self, exc: BaseException | object, target: MessageLabel | None = None) -> None:
        label = target or self.editor.message
        label.show_error(error_text(exc, self.tr("That did not work")))
        if label is self.editor.message:
            self._reveal_message()

    def _reveal_message(self) -> None:
        """Scroll the form up to its message: on a small screen the user is down at Save."""
        layout = self.editor.layout()
        if layout is not None:
            layout.activate()  # the message was hidden until now: place it first
        self.editor_scroll.ensureWidgetVisible(self.editor.message, 0, 0)

    def _build_operations(self) -> None:
        """One ``Operation`` per action of the page (see pmdesk.ui.ops)."""
        tr = self.tr
        self.ops = Operations(
            self,
            self.tasks,
            message=self.editor.message,
            busy=indicator(self.busy, self._update_buttons),
            changes=self.context.changes,
            after_failure=self._reveal_message,
        )
        make = self.ops.make
        self.lookups_loading = make("lookups")
        self.opening = make(
            "open person", busy_text=tr("Loading…"), handle={NotFound: self._not_found_on_open}
        )
        self.extras_loading = make("refresh person")
        self.conflict_fetching = make("conflict")
        self.saving = make(
            "save person",
            busy_text=tr("Saving…"),
            fields=self.editor.set_errors,
            invalid_text=tr("Not saved: correct the fields marked in red."),
            handle={ConflictError: self._save_conflict, NotFound: self._saved_person_gone},
            announces={PERSONNEL},
            after_failure=self._after_save_failed,
        )
        gone = {NotFound: self._person_gone}
        self.deleting = make(
            "delete person", busy_text=tr("Deleting…"), handle=gone, announces={PERSONNEL}
        )
        self.unlocking = make("unlock", busy_text=tr("Unlocking…"), handle=gone)
        self.ending_sessions = make("end sessions", busy_text=tr("Ending sessions…"), handle=gone)
        self.removing_ips = make(
            "remove trusted IPs",
            busy_text=tr("Removing…"),
            handle=gone,
            announces={TRUSTED_IPS},
        )

    @property
    def _busy(self) -> bool:
        return self.ops.busy

    def _update_buttons(self) -> None:
        record = self.editor.record
        self.save_button.setEnabled(
            self.can_edit
            and not self._busy
            and self._lookups is not None
            and self.editor.is_dirty()
        )
        self.delete_button.setEnabled(
            self.can_delete
            and not self._busy
            and record is not None
            and record.id != self.session.person_id
        )
        self.delete_button.setToolTip(
            self.tr("You cannot delete your own account.")
            if record is not None and record.id == self.session.person_id
            else ""
        )
        self.new_button.setEnabled(self.can_edit)

    def has_unsaved_changes(self) -> bool:
        return self.editor.is_dirty()
