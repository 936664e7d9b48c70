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


def _t(text: str) -> str:
    return QCoreApplication.translate("PersonEditor", text)


def field_labels() -> dict[str, str]:
    """Each PersonForm field as the form labels it (for messages and the conflict table)."""
    return {
        "last_name": _t("Lastname"),
        "first_name": _t("Forename"),
        "number": _t("Number"),
        "street": _t("Street"),
        "postcode": _t("Postcode"),
        "city": _t("City"),
        "country": _t("Country"),
        "phone": _t("Phone"),
        "mobile": _t("Mobile"),
        "email": _t("Email"),
        "email_newsletter": _t("Use e-mail for Newsletter"),
        "email_invoicing": _t("Use e-mail for Invoicing"),
        "location_id": _t("Location"),
        "group_id": _t("Usergroup"),
        "language_id": _t("Language"),
        "team_id": _t("Team"),
        "hourly_cost": _t("Hourly Cost"),
        "login": _t("Login"),
        "password": _t("Password"),
        "password_confirm": _t("Confirm"),
        "visible": _t("Visible in the suite's apps"),
        "access_planning": _t("Planning"),
        "access_notifications": _t("Notifications"),
        "access_inspection": _t("Inspection"),
        "access_webservice": _t("Webservice"),
        "access_courtesy_car": _t("Courtesy Car"),
        "access_reception": _t("Reception"),
    }


def password_help(record: PersonRecord | None, editable: bool) -> tuple[tuple[str, str], str]:
    """What Password and Confirm show when empty, and the hint under them: "unchanged" only
    where there is a password to keep."""
    if not editable:  # no advice on what a read-only user cannot do
        return ("", ""), ""
    if record is not None and record.has_password:
        hint = _t(
            "Leave empty to keep the current password. A new password removes this "
            "person's trusted IP addresses."
        )
        return (_t("unchanged"), _t("unchanged")), hint
    hint = (
        _t("A new person who gets a login needs a password of at least 8 characters.")
        if record is None
        else _t("No password yet: give one to let this person sign in.")
    )
    return (_t("at least 8 characters"), _t("the same again")), hint


def fit_placeholder(combo: QComboBox, placeholder: str) -> None:
    """Make a combo at least wide enough for its placeholder ("select a usergroup")."""
    metrics = combo.fontMetrics()
    per_char = max(metrics.horizontalAdvance("x"), 1)
    needed = -(-metrics.horizontalAdvance(placeholder) // per_char) + 2
    combo.setMinimumContentsLength(max(10, needed))


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
