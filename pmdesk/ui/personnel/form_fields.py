"""The Personnel form's fields: their names, their labels, and how its columns are laid out."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel

from pmdesk.core.personnel import PersonRecord

TEXT_FIELDS = (
    "last_name",
    "first_name",
    "number",
    "phone",
    "mobile",
    "email",
    "hourly_cost",
    "login",
    "password",
    "password_confirm",
)
CHOICE_FIELDS = ("location_id", "group_id", "language_id", "team_id")


translate = QCoreApplication.translate


def field_labels() -> dict[str, str]:
    """Each PersonForm field as the form labels it (for messages and the conflict table)."""
    return {
        "last_name": translate("PersonEditor", "Lastname"),
        "first_name": translate("PersonEditor", "Forename"),
        "number": translate("PersonEditor", "Number"),
        "street": translate("PersonEditor", "Street"),
        "postcode": translate("PersonEditor", "Postcode"),
        "city": translate("PersonEditor", "City"),
        "country": translate("PersonEditor", "Country"),
        "phone": translate("PersonEditor", "Phone"),
        "mobile": translate("PersonEditor", "Mobile"),
        "email": translate("PersonEditor", "Email"),
        "email_newsletter": translate("PersonEditor", "Use e-mail for Newsletter"),
        "email_invoicing": translate("PersonEditor", "Use e-mail for Invoicing"),
        "location_id": translate("PersonEditor", "Location"),
        "group_id": translate("PersonEditor", "Usergroup"),
        "language_id": translate("PersonEditor", "Language"),
        "team_id": translate("PersonEditor", "Team"),
        "hourly_cost": translate("PersonEditor", "Hourly Cost"),
        "login": translate("PersonEditor", "Login"),
        "password": translate("PersonEditor", "Password"),
        "password_confirm": translate("PersonEditor", "Confirm"),
        "visible": translate("PersonEditor", "Visible in the suite's apps"),
        "access_planning": translate("PersonEditor", "Planning"),
        "access_notifications": translate("PersonEditor", "Notifications"),
        "access_inspection": translate("PersonEditor", "Inspection"),
        "access_webservice": translate("PersonEditor", "Webservice"),
        "access_courtesy_car": translate("PersonEditor", "Courtesy Car"),
        "access_reception": translate("PersonEditor", "Reception"),
    }


def password_help(record: PersonRecord | None, editable: bool) -> tuple[tuple[str, str], str]:
    """What Password and Confirm show when empty, and the hint under them: "unchanged" only
    where there is a password to keep."""
    if not editable:  # no advice on what a read-only user cannot do
        return ("", ""), ""
    if record is not None and record.has_password:
        hint = translate(
            "PersonEditor",
            "Leave empty to keep the current password. A new password removes this "
            "person's trusted IP addresses.",
        )
        return (
            translate("PersonEditor", "unchanged"),
            translate("PersonEditor", "unchanged"),
        ), hint
    hint = (
        translate(
            "PersonEditor",
            "A new person who gets a login needs a password of at least 8 characters.",
        )
        if record is None
        else translate("PersonEditor", "No password yet: give one to let this person sign in.")
    )
    return (
        translate("PersonEditor", "at least 8 characters"),
        translate("PersonEditor", "the same again"),
    ), hint


def fit_placeholder(combo: QComboBox, placeholder: str) -> None:
    """Make a combo at least wide enough for its placeholder ("select a usergroup")."""
    metrics = combo.fontMetrics()
    per_char = max(metrics.horizontalAdvance("x"), 1)
    needed = -(-metrics.horizontalAdvance(placeholder) // per_char) + 2
    combo.setMinimumContentsLength(max(10, needed))


def relabel(label: QLabel, text: str) -> None:
    """A form row's label in another language; its input's name for screen readers follows
    when it was the label's (``label_fields``)."""
    buddy = label.buddy()
    if buddy is not None and buddy.accessibleName() == label.text().replace("&", ""):
        buddy.setAccessibleName(text.replace("&", ""))
    label.setText(text)


def align_labels(*layouts: QFormLayout) -> None:
    """Give the label columns of several forms one width, so their fields line up."""
    labels: list[QLabel] = []
    for layout in layouts:
        for row in range(layout.rowCount()):
            item = layout.itemAt(row, QFormLayout.ItemRole.LabelRole)
            widget = item.widget() if item is not None else None
            if isinstance(widget, QLabel):
                labels.append(widget)
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)
