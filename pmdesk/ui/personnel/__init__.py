"""Maintenance → Organisation → Personnel."""

from pmdesk.ui.personnel.view import PersonnelPage

__all__ = ["PersonnelPage"]
