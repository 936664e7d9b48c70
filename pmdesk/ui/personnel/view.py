"""Maintenance → Organisation → Personnel: the staff list and the edit form side by side."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from pmdesk.core.changes import PERSONNEL, TRUSTED_IPS
from pmdesk.core.errors import ConflictError, NotFound
from pmdesk.core.modules import MAINTENANCE, SYSTEM_SECURITY, Action
from pmdesk.core.personnel import Lookups, PersonForm, PersonnelService, PersonRecord
from pmdesk.core.screens import PersonDetails, person_details, server_now
from pmdesk.ui.errors import error_text
from pmdesk.ui.message_boxes import ask_discard
from pmdesk.ui.ops import Operations, indicator
from pmdesk.ui.personnel.actions import AfterAction, PersonActions
from pmdesk.ui.personnel.conflict import ConflictDialog, open_conflict_dialog
from pmdesk.ui.personnel.form_panel import PersonFormPanel
from pmdesk.ui.personnel.list_panel import SEARCH_DELAY_MS as SEARCH_DELAY_MS  # bench reads it
from pmdesk.ui.personnel.list_panel import PersonnelList
from pmdesk.ui.personnel.model import PERSON_ID_ROLE, PersonnelModel, PersonnelSource
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.translation import error_text as core_text

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageContext

# What the Usergroup, Location, Language and Team lists are read from.
LOOKUP_TABLES = frozenset({"user_groups", "locations", "languages", "teams"})


class PersonnelPage(Retranslating, QWidget):
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
        source = PersonnelSource(self.service, self.actor, partial(server_now, self.app.context))
        self.model = PersonnelModel(source, self.tasks, self)
        self.model.refreshed.connect(self._list_refreshed)
        self.model.dataChanged.connect(self._rows_arrived)

        left = self._build_list()
        self.model.failed.connect(self.staff_list.show_failure)
        right = self._build_form()
        self._layout_page(left, right)

        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        QShortcut(QKeySequence.StandardKey.New, self, self.new_person)
        QShortcut(QKeySequence.StandardKey.Find, self, self.staff_list.focus_search)
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)

        self.retranslate()
        self._load_lookups()
        self.model.refresh()

    def retranslate(self) -> None:
        """The parts retranslate themselves; the Delete button's tooltip is the page's."""
        self._update_buttons()

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
        right.setMinimumWidth(
            self.editor_holder.minimumSizeHint().width()
            + self.editor_scroll.verticalScrollBar().sizeHint().width()
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
        self.staff_list = PersonnelList(
            self.model,
            can_edit=self.can_edit,
            reload=self.refresh,
            new=self.new_person,
            parent=self,
        )
        self.search_edit = self.staff_list.search_edit
        self._search_timer = self.staff_list.search_timer
        self.new_button = self.staff_list.new_button
        self.refresh_button = self.staff_list.refresh_button
        self.table = self.staff_list.table
        self.count_label = self.staff_list.count_label
        self.list_message = self.staff_list.message
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_changed)
        self.table.selectionModel().currentRowChanged.connect(self._row_chosen)
        return self.staff_list

    def _build_form(self) -> QWidget:
        """The edit form in its scroll area, the view-only notice, Delete and Save."""
        self.form_panel = PersonFormPanel(can_edit=self.can_edit, parent=self)
        self.editor = self.form_panel.editor
        self.editor.changed.connect(self._update_buttons)
        self.editor_scroll = self.form_panel.editor_scroll
        self.editor_holder = self.form_panel.editor_holder
        self.empty_label = self.form_panel.empty_label
        self.busy = self.form_panel.busy
        self.view_only_message = self.form_panel.view_only_message
        self._build_operations()
        self.editor.unlock_requested.connect(self.person_actions.unlock)
        self.editor.remove_ips_requested.connect(self.person_actions.remove_trusted_ips)
        self.editor.end_sessions_requested.connect(self.person_actions.end_sessions)
        self.save_button = self.form_panel.save_button
        self.save_button.clicked.connect(self.save)
        self.delete_button = self.form_panel.delete_button
        self.delete_button.clicked.connect(self.person_actions.delete)
        return self.form_panel

    # ----- list ---------------------------------------------------------------------------

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

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        if self.staff_list.sortable(column):
            self._reselect_id = self._current_id
            self.model.sort(column, order)

    def _list_refreshed(self) -> None:
        self._pending_row = None
        self.staff_list.show_count()
        if self._reselect_id is not None:
            row = self.model.row_of(self._reselect_id)
            if row is not None:
                self.staff_list.select_row(row)
            self._reselect_id = None
        self.form_panel.show_empty(
            self.model.total == 0 and not self.model.search and not self._creating
        )
        if self._current_id is None and not self._creating and not self.editor.is_dirty():
            self._open_first()

    def _open_first(self) -> None:
        """With nobody open (at the start, after a delete), show the first person rather than
        an empty "New person" form."""
        if self.model.rowCount() == 0:
            return
        self.staff_list.select_row(0)
        person_id = self.model.data(self.model.index(0, 0), PERSON_ID_ROLE)
        if person_id is None:
            self._pending_row = 0  # its block is on its way (see _rows_arrived)
        else:
            self.open_person(int(person_id), keep_message=True)

    def _rows_arrived(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        row = self._pending_row
        if row is None or not top_left.row() <= row <= bottom_right.row():
            return
        current = self.staff_list.current_index()
        if current.isValid() and current.row() == row:
            self._row_chosen(current, QModelIndex())
        else:
            self._pending_row = None

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
                    self.staff_list.select_row(row)
                else:
                    self.staff_list.clear_selection()

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
            busy_text=self.tr("Loading…"),
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
        self.editor.helpdesk_row.show_state(loaded.helpdesk)
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
            self.form_panel.show_empty(False)
            self.staff_list.clear_selection()
            self.editor.clear_for_new(PersonForm(visible=True))
            self.editor.edits["last_name"].setFocus()
            self._update_buttons()

        if self.editor.is_dirty():
            self._ask_discard(go)
        else:
            go()

    # ----- saving -------------------------------------------------------------------------

    def save(self) -> None:
        if self.ops.busy or not self.can_edit:
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
        self.saving.run(call, self._saved, busy_text=self.tr("Saving…"))

    def _saved(self, record: PersonRecord) -> None:
        self.editor.mark_saved(record)
        self.editor.message.show_success(self.tr("{name} saved.").format(name=record.display_name))
        self.form_panel.reveal_message()
        self._reselect_id = record.id
        self.model.refresh()
        self.open_person(record.id, keep_message=True)

    def _save_conflict(self, exc: ConflictError) -> None:
        """Personnel's own conflict dialog: theirs against what is typed, field by field."""
        self.editor.message.show_error(core_text(exc))
        current = exc.current
        if isinstance(current, PersonRecord):
            self._show_conflict(current)
        elif self.editor.record is not None:
            self._fetch_for_conflict(self.editor.record.id)

    def _saved_person_gone(self, exc: NotFound) -> None:
        self.editor.detach()
        self.editor.message.show_error(
            core_text(exc)
            + " "
            + self.tr("Your input is still here: Save adds it as a new person.")
        )
        self.model.refresh()

    def _after_save_failed(self) -> None:
        self.form_panel.reveal_message()
        self._update_buttons()

    def _fetch_for_conflict(self, person_id: int) -> None:
        service, actor = self.service, self.actor
        self.conflict_fetching.run(lambda: service.get(actor, person_id), self._show_conflict)

    def _show_conflict(self, theirs: PersonRecord) -> None:
        def closed() -> None:
            self.conflict_dialog = None

        self.conflict_dialog = open_conflict_dialog(
            self,
            self.editor,
            theirs,
            can_overwrite=self.can_edit,
            overwrite=lambda: self._save(theirs.version),
            reload=lambda: self.open_person(theirs.id),
            closed=closed,
        )

    # ----- after Delete, Unlock, End sessions, Remove (see PersonActions) -----------------

    def _deleted(self, record: PersonRecord) -> None:
        self._current_id = None
        self.editor.clear_for_new()
        self.editor.message.show_success(
            self.tr("{name} was deleted.").format(name=record.display_name)
        )
        self.model.refresh()

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
        self._show_error(exc)

    # ----- helpers ------------------------------------------------------------------------

    def _ask_discard(
        self, proceed: Callable[[], None], stay: Callable[[], None] | None = None
    ) -> None:
        name = self.editor.record.display_name if self.editor.record else self.tr("the new person")
        text = self.tr("Discard your changes to {name}?").format(name=name)
        ask_discard(self, text, proceed, on_keep=stay)

    def _show_error(self, exc: BaseException) -> None:
        self.editor.message.show_error(error_text(exc, self.tr("That did not work")))
        self.form_panel.reveal_message()

    def _build_operations(self) -> None:
        """One ``Operation`` per action of the page (see pmdesk.ui.ops)."""
        self.ops = Operations(
            self,
            self.tasks,
            message=self.editor.message,
            busy=indicator(self.busy, self._update_buttons),
            changes=self.context.changes,
            after_failure=self.form_panel.reveal_message,
        )
        make = self.ops.make
        self.lookups_loading = make("lookups")
        self.opening = make("open person", busy_text="", handle={NotFound: self._not_found_on_open})
        self.extras_loading = make("refresh person")
        self.conflict_fetching = make("conflict")
        self.saving = make(
            "save person",
            busy_text="",
            fields=self._field_errors,
            handle={ConflictError: self._save_conflict, NotFound: self._saved_person_gone},
            announces={PERSONNEL},
            after_failure=self._after_save_failed,
        )
        self.person_actions = PersonActions(
            self,
            self.editor,
            self.app.context,
            self.service,
            self.actor,
            self.ops,
            AfterAction(
                refresh_list=self.model.refresh,
                refresh_extras=self._refresh_extras,
                deleted=self._deleted,
                gone=self._person_gone,
            ),
            can_edit=self.can_edit,
            can_delete=self.can_delete,
        )

    def _field_errors(self, errors: Mapping[str, str]) -> list[str]:
        """The core's messages under their fields; above the form, what to do and the rest."""
        rest = self.editor.set_errors(errors)
        return [self.tr("Not saved: correct the fields marked in red."), *rest]

    def _update_buttons(self) -> None:
        record = self.editor.record
        self.save_button.setEnabled(
            self.can_edit
            and not self.ops.busy
            and self._lookups is not None
            and self.editor.is_dirty()
        )
        self.delete_button.setEnabled(
            self.can_delete
            and not self.ops.busy
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
