"""First run: the database has no users yet, so create the first administrator.

Validation is the core's (``PersonnelService.validate``), shown next to each field, every error
at once; a field marked in red is checked again as it is edited, so its message goes as soon as
it is fixed. The account is created on a worker thread (hashing the password takes a moment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.icons import app_icon, pixmap
from pmdesk.ui.ops import Operation, indicator
from pmdesk.ui.scrolling import follow_focus
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import (
    BusyIndicator,
    FieldBox,
    MessageLabel,
    WrappingDialog,
    hint_label,
    label_fields,
    make_primary,
)

if TYPE_CHECKING:
    from pmdesk.core.context import CoreContext
    from pmdesk.core.passwords import Passwords
    from pmdesk.core.personnel import PersonForm, PersonRecord


@dataclass(frozen=True)
class AlreadyDone:
    """Another workstation created the first user while this dialog was open."""


class FirstRunDialog(Retranslating, WrappingDialog):
    """Emits ``created(login)`` once the administrator exists."""

    created = Signal(str)

    def __init__(
        self,
        context: CoreContext,
        administrator_group_id: int | None,
        tasks: TaskManager,
        parent: QWidget | None = None,
        *,
        passwords: Passwords | None = None,
    ) -> None:
        """``passwords``: a ready argon2 hasher (making one takes a moment; see startup)."""
        super().__init__(parent)
        self._context = context
        self._passwords = passwords
        self._group_id = administrator_group_id
        self._tasks = tasks
        self.setObjectName("firstRunDialog")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(500)

        heading = self._build_heading()
        intro = self._build_intro()
        form = self._build_form()

        self.message = MessageLabel(self)
        self.busy = BusyIndicator(self)
        self.creating = Operation[object](
            self,
            tasks,
            label="first run",
            message=self.message,
            busy=indicator(self.busy, self._enable_fields),
            fields=self._show_field_errors,
        )
        buttons = self._build_buttons()
        # The fields scroll when their messages need more height than the screen has (many
        # errors at once on 1280 x 800 at 150 %); heading and buttons stay in view.
        self.scroll_area = self._build_scroll_area(form)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 18)
        layout.setSpacing(12)
        layout.addLayout(heading)
        layout.addWidget(intro)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        # Cancel sits left of Create: Tab reaches it first (it was made after Create).
        QWidget.setTabOrder(self.cancel_button, self.create_button)
        self.fields["login"].editor.setFocus()
        self.retranslate()

    def retranslate(self) -> None:
        self.setWindowTitle(self.tr("First administrator"))
        self.title.setText(self.tr("Welcome to pmdesk"))
        self.intro.setText(
            self.tr(
                "This database has no users yet. Create the first administrator: this account "
                "joins the Administrator group and can then add everybody else under "
                "Maintenance → Organisation → Personnel."
            )
        )
        self._field_texts()
        self.create_button.setText(self.tr("Create administrator"))
        self.cancel_button.setText(self.tr("Cancel"))
        self.creating.set_texts(
            failure=self.tr("The administrator could not be created"),
            busy_text=self.tr("Creating the administrator…"),
        )

    def _field_texts(self) -> None:
        """The fields' labels, placeholders, hints and screen-reader texts."""
        labels = {
            "login": self.tr("Login"),
            "first_name": self.tr("Forename"),
            "last_name": self.tr("Lastname"),
            "email": self.tr("Email"),
            "password": self.tr("Password"),
            "password_confirm": self.tr("Confirm"),
        }
        for name, text in labels.items():
            self.labels[name].setText(text)
            self.editor(name).setAccessibleName(text)
        self.editor("password_confirm").setAccessibleName(self.tr("Confirm password"))
        self.editor("login").setPlaceholderText(self.tr("e.g. jsmets"))
        self.editor("email").setPlaceholderText(self.tr("name@example.com"))
        self.email_hint.setText(
            self.tr("Security codes are sent here once two-step authentication is on.")
        )
        self.password_hint.setText(self.tr("At least 8 characters."))
        self.editor("email").setAccessibleDescription(self.email_hint.text())
        self.editor("password").setAccessibleDescription(self.password_hint.text())

    def _build_heading(self) -> QHBoxLayout:
        logo = QLabel(self)
        logo.setPixmap(pixmap("app", 40, self.devicePixelRatioF()))
        self.title = QLabel(self)
        self.title.setProperty("role", "title")
        heading = QHBoxLayout()
        heading.setSpacing(12)
        heading.addWidget(logo)
        heading.addWidget(self.title, 1)
        return heading

    def _build_intro(self) -> QLabel:
        self.intro = QLabel(self)
        self.intro.setWordWrap(True)
        return self.intro

    def _build_form(self) -> QFormLayout:
        """The fields (``self.fields``), each with its label and the hints."""

        def edit(name: str, *, password: bool = False) -> QLineEdit:
            line = QLineEdit(self)
            line.setObjectName(name)
            if password:
                line.setEchoMode(QLineEdit.EchoMode.Password)
            line.textEdited.connect(self._recheck)
            return line

        self.fields: dict[str, FieldBox] = {
            "login": FieldBox(edit("loginEdit"), self),
            "first_name": FieldBox(edit("firstNameEdit"), self),
            "last_name": FieldBox(edit("lastNameEdit"), self),
            "email": FieldBox(edit("emailEdit"), self),
            "password": FieldBox(edit("passwordEdit", password=True), self),
            "password_confirm": FieldBox(edit("confirmEdit", password=True), self),
        }
        self.labels = {name: QLabel(self) for name in self.fields}
        self.email_hint = hint_label("", self)
        self.password_hint = hint_label("", self)
        form = QFormLayout()
        form.setVerticalSpacing(8)
        for name in ("login", "first_name", "last_name", "email"):
            form.addRow(self.labels[name], self.fields[name])
        form.addRow("", self.email_hint)
        for name in ("password", "password_confirm"):
            form.addRow(self.labels[name], self.fields[name])
        form.addRow("", self.password_hint)
        self._field_texts()  # label_fields ties each label with a text to its field
        label_fields(form)
        return form

    def _build_buttons(self) -> QHBoxLayout:
        """Create (``self.create_button``, the default) and Cancel, beside the busy indicator."""
        self.create_button = make_primary(QPushButton(self))
        self.create_button.setObjectName("createButton")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(self.submit)
        self.cancel_button = QPushButton(self)
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.create_button)
        return buttons

    def _build_scroll_area(self, form: QFormLayout) -> QScrollArea:
        """``form`` in a scroll area that grows with it (see ``_fit_height``)."""
        fields = QWidget(self)
        fields.setObjectName("firstRunFields")
        fields.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)
        scroll_area = follow_focus(QScrollArea(self))
        scroll_area.setObjectName("firstRunScroll")
        scroll_area.setWidgetResizable(True)
        scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll_area.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        scroll_area.setWidget(fields)
        return scroll_area

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_height()  # the fields need not scroll where the screen has the room

    def editor(self, name: str) -> QLineEdit:
        widget = self.fields[name].editor
        assert isinstance(widget, QLineEdit)
        return widget

    def _form(self) -> PersonForm:
        from pmdesk.core.personnel import PersonForm

        return PersonForm(
            login=self.editor("login").text(),
            first_name=self.editor("first_name").text(),
            last_name=self.editor("last_name").text(),
            email=self.editor("email").text(),
            password=self.editor("password").text(),
            password_confirm=self.editor("password_confirm").text(),
            group_id=self._group_id,
        )

    def _errors(self, form: PersonForm) -> dict[str, str]:
        """The core's verdict on ``form``: every bad field with its message."""
        from pmdesk.core.errors import ValidationError
        from pmdesk.core.personnel import PersonnelService

        try:
            PersonnelService(self._context, self._passwords).validate(
                form, creating=True, login_required=True
            )
        except ValidationError as exc:
            return dict(exc.errors)
        return {}

    def show_errors(self, errors: dict[str, str]) -> None:
        shown = False
        for name, box in self.fields.items():
            box.set_error(errors.get(name))
            if errors.get(name) and not shown:
                box.editor.setFocus()
                shown = True
        rest = [msg for key, msg in errors.items() if key not in self.fields]
        if rest:
            self.message.show_error(" ".join(localize(text) for text in rest))
        else:
            self.message.clear_message()
        self._fit_height()

    def _recheck(self) -> None:
        """Check the fields marked in red again: a fixed one is cleared at once (and one that
        the edit of another fixed, as Confirm by Password). Unmarked fields wait for Create."""
        marked = [name for name, box in self.fields.items() if not box.error.isHidden()]
        if not marked:
            return
        errors = self._errors(self._form())
        for name in marked:
            self.fields[name].set_error(errors.get(name))

    def screen_room(self) -> int | None:
        """The height the dialog's screen offers (None off screen)."""
        screen = self.screen()
        return screen.availableGeometry().height() if screen is not None else None

    def _fit_height(self) -> None:
        """Grow to show the messages just shown: the dialog keeps its height otherwise, and the
        layout would squeeze each field over its message (only the bottom half showed)."""
        layout = self.layout()
        if layout is None:
            return
        layout.activate()
        fields = self.scroll_area.widget()
        if fields is None:
            return
        # The fields are what grew (and the scroll area takes what the rest leaves): the
        # dialog needs its height now, less what the fields have, plus what they need.
        viewport = self.scroll_area.viewport()
        needed = self.height() - viewport.height() + fields.heightForWidth(viewport.width())
        room = self.screen_room()
        if room is not None:
            frame = max(0, self.frameGeometry().height() - self.height())
            needed = min(needed, room - frame)
        if needed > self.height():
            self.resize(self.width(), needed)

    def submit(self) -> None:
        if self.creating.running:
            return
        form = self._form()
        errors = self._errors(form)
        if errors:
            self.show_errors(errors)
            return
        self.show_errors({})
        context, passwords = self._context, self._passwords

        def create() -> PersonRecord | AlreadyDone:
            from pmdesk.core.context import Actor
            from pmdesk.core.personnel import AlreadyInitialised, PersonnelService

            service = PersonnelService(context, passwords)
            if service.has_users():  # the common case, answered before any hashing
                return AlreadyDone()
            try:
                return service.create_first_administrator(Actor.system("first run"), form)
            except AlreadyInitialised:
                return AlreadyDone()

        self.creating.run(create, self._created)

    def _created(self, result: object) -> None:
        """``created("")`` means another workstation was first: sign in with that account."""
        login = "" if isinstance(result, AlreadyDone) else self.editor("login").text().strip()
        self.created.emit(login)
        self.accept()

    def _show_field_errors(self, errors: dict[str, str]) -> list[str]:
        self.show_errors(errors)
        return []

    def _enable_fields(self) -> None:
        busy = self.creating.running
        self.create_button.setEnabled(not busy)
        for box in self.fields.values():
            box.editor.setEnabled(not busy)
