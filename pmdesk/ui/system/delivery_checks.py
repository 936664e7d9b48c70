"""The Code delivery form's checks, with no database involved (the core's ``validate_delivery``
is a pure function): a field is checked as the user leaves it, a field marked in red again as
it is corrected, and the service's errors on Save are put under the fields they name."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLineEdit, QWidget

from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.errors import ValidationError
from pmdesk.core.security import validate_delivery
from pmdesk.ui.system.delivery_fields import SECRET, DeliveryFields
from pmdesk.ui.system.delivery_secret import secret_problem, service_account
from pmdesk.ui.translation import localize
from pmdesk.ui.widgets import FieldBox


def delivery_errors(settings: DeliverySettings) -> dict[str, str]:
    """What is wrong with ``settings``, field by field (empty: nothing), in the app's language."""
    try:
        validate_delivery(settings)
    except ValidationError as exc:
        return {name: localize(text) for name, text in exc.errors.items()}
    return {}


class DeliveryChecks:
    """The messages under the fields of one form; ``settings()`` and ``secret()`` read what is
    typed, ``reveal(widget)`` scrolls a marked field into view."""

    def __init__(
        self,
        fields: DeliveryFields,
        boxes: dict[str, FieldBox],
        edits: dict[str, QLineEdit],
        settings: Callable[[], DeliverySettings],
        secret: Callable[[], str],
        reveal: Callable[[QWidget], None],
    ) -> None:
        self._fields = fields
        self._boxes = boxes
        self._edits = edits
        self._settings = settings
        self._secret = secret
        self._reveal = reveal
        self._touched: set[str] = set()  # the fields the user has left, checked from then on

    def clear(self) -> None:
        self._touched.clear()
        for box in self._boxes.values():
            box.set_error(None)

    def set_errors(self, errors: dict[str, str]) -> list[str]:
        """Show each error under its field; returns the messages that have no field here."""
        rest = []
        shown = set(self._fields.shown) | {"method"}
        for name, core_text in errors.items():
            text = localize(core_text)
            if name == "google_client_email" and not self._edits[name].text().strip():
                name = SECRET  # the account comes from the JSON key, typed in the secret
            box = self._boxes.get(name)
            if box is None or name not in shown:
                rest.append(text)
            else:
                box.set_error(text)
                self._touched.add(name)  # checked again as it is corrected
        marked = [n for n in self._fields.shown if self.field_error(n)]
        if marked:
            self._reveal(self._boxes[marked[0]])  # the first one marked, in case it is out of view
        return rest

    def field_error(self, name: str) -> str:
        box = self._boxes[name]
        return box.error.text() if not box.error.isHidden() else ""

    def check_secret(self) -> None:
        self._boxes[SECRET].set_error(secret_problem(self._settings(), self._secret()))

    def secret_edited(self) -> bool:
        """A pasted JSON key names its service account: fill that in at once (True: it was)."""
        if self._settings().method == "google":
            self.check_secret()
            email = service_account(self._secret())
            if email is not None:
                self._edits["google_client_email"].setText(email)
                self._boxes["google_client_email"].set_error(None)
                return True
        elif self.field_error(SECRET):
            self.check_secret()
        return False

    def left(self, name: str) -> None:
        """Check the fields already visited as the user leaves one."""
        self._touched.add(name)
        errors = delivery_errors(self._settings())
        for field in self._touched:
            box = self._boxes.get(field)
            if box is not None and field != SECRET:
                box.set_error(errors.get(field))
        if name == SECRET:
            self.check_secret()

    def recheck(self, name: str) -> None:
        """A field marked in red is checked again as it is typed in: the error goes as soon as
        the value is valid (or says what is still wrong), without waiting for the user to
        leave the field or press Save."""
        if not self.field_error(name) or name == SECRET:
            return
        self._boxes[name].set_error(delivery_errors(self._settings()).get(name))
