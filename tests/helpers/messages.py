"""A security-code message for delivery tests."""

from __future__ import annotations

from dataclasses import replace

from pmdesk.core.delivery.base import CodeMessage


def make_message(code: str, **changes: object) -> CodeMessage:
    """A code for Anna Peeters (e-mail and a Belgian mobile number), with ``changes``."""
    message = CodeMessage(
        person_name="Anna Peeters",
        email="anna.peeters@workshop.example",
        phone="0470 12 34 56",
        code=code,
        valid_minutes=10,
        requested_from="192.0.2.44",
        workstation="RECEPTION-PC",
    )
    return replace(message, **changes)  # type: ignore[arg-type]
