"""The core's sentences in Dutch and French (issue 15): each one is a Text whose English is as
before, rendered for a reader from the shipped catalogue; a hardened server's refusal reads the
same as the client's own."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal

import pytest

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import (
    LastAdministratorError,
    PermissionDenied,
    ValidationError,
    message_of,
)
from pmdesk.core.i18n import Text, load_catalog, translate
from pmdesk.core.login_results import SIGN_IN_TOO_SOON, too_soon, wrong_code
from pmdesk.core.modules import MAINTENANCE, SYSTEM_SECURITY, Action
from pmdesk.core.office_networks import TrustImpact, clean_ranges
from pmdesk.core.passwords import password_problem
from pmdesk.core.permissions import last_administrator_message, refusal
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.security import clean_mailbox
from pmdesk.core.server_messages import as_text
from pmdesk.core.validation import FieldInvalid, clean_money, clean_text
from tests.core.test_personnel_core import _clerk

CLI = Actor(name="test (cli)")


def dutch(text: str) -> str:
    return load_catalog("nl-BE").text(text)


def french(text: str) -> str:
    return load_catalog("fr-BE").text(text)


def _problem(check: object) -> str:
    with pytest.raises(FieldInvalid) as caught:
        check()  # type: ignore[operator]
    return message_of(caught.value)


def test_a_field_message_names_its_field_in_the_readers_language() -> None:
    label = translate("personnel", "Lastname")
    message = _problem(lambda: clean_text("", label=label, max_length=10, required=True))
    assert message == "Lastname is required."  # the English stays what it was
    assert dutch(message) == "Naam is verplicht."
    assert french(message) == "Nom : ce champ est obligatoire."
    money = _problem(lambda: clean_money(Decimal("1.234")))
    assert dutch(money) == "Uurkost mag hoogstens twee decimalen hebben."


def test_refusals_and_login_results_translate_with_their_values() -> None:
    assert dutch(refusal(MAINTENANCE, Action.READ)) == (
        "Uw gebruikersgroep mag Onderhoud niet bekijken. Vraag een beheerder om Onderhoud "
        "Bekijken toe te kennen in Systeem → Machtigingen."
    )
    assert (
        french(wrong_code(2).message)
        == "Le code de sécurité est incorrect. Il vous reste 2 essais."
    )
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
    soon = too_soon(now + timedelta(seconds=42), now, SIGN_IN_TOO_SOON)
    assert "42 s" in soon.message and "Sign in again in 42 s" in soon.message
    assert "Meld u over 42 s opnieuw aan" in dutch(soon.message)
    assert french(password_problem("short") or "") == (
        "Le mot de passe doit compter au moins 8 caractères."
    )


def test_plurals_are_whole_sentences() -> None:
    assert dutch(TrustImpact(addresses=1, people=3).describe()) == (
        "1 adres wordt niet langer vertrouwd, 3 personen getroffen"
    )
    assert french(TrustImpact(addresses=4, people=1).describe()) == (
        "4 adresses ne sont plus de confiance, 1 personne concernée"
    )


def test_messages_built_from_messages_translate_every_part() -> None:
    problem = _problem(lambda: clean_ranges(["10.1.0.1/16"]))
    assert dutch(problem).startswith("In '10.1.0.1/16' zijn hostbits ingevuld")
    sender = translate("security", "The sender address")
    nested = _problem(lambda: clean_mailbox("jan@", sender, sender))
    assert nested == "The sender address: 'jan@' is not a valid e-mail address."
    assert french(nested) == (
        "L'adresse de l'expéditeur : « jan@ » n'est pas une adresse e-mail valide."
    )
    both = ValidationError({"a": translate("sessions", "Your session has expired."), "b": "x"})
    assert str(both) == "Your session has expired. x"
    assert dutch(message_of(both)) == "Uw sessie is verlopen. x"


def test_a_text_survives_pickling_and_copying_inside_an_exception() -> None:
    error = PermissionDenied(refusal(SYSTEM_SECURITY, Action.EDIT))
    for again in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert isinstance(again.args[0], Text)
        assert str(again) == str(error)
        assert french(message_of(again)) == french(message_of(error))


def test_a_server_sentence_is_read_back_as_the_clients_text() -> None:
    english = str(last_administrator_message(["System → Security", "Permissions (System)"]))
    read_back = as_text(english)
    assert read_back == english
    assert french(read_back).startswith(
        "Après cette modification, plus personne ne pourrait administrer Système → Sécurité "
        "et Autorisations (Système)."
    )
    assert as_text("Something the client never says.") == "Something the client never says."
    # The server's own refusals to write, and its checks worded as the client's.
    assert dutch(as_text("Your user group may not change the log.")) == (
        "Uw gebruikersgroep mag niet het logboek wijzigen."
    )
    assert french(as_text("The first lock must be a whole number of minutes from 1 to 60.")) == (
        "Le premier blocage : indiquez un nombre entier (minutes) de 1 à 60."
    )
    reason = "The reason can have at most 200 characters, and no control characters."
    assert dutch(as_text(reason)) == (
        "De reden mag hoogstens 200 tekens bevatten, en geen stuurtekens."
    )


@pytest.mark.parametrize(
    "message",
    [
        "You have no e-mail address: add yours in Personnel first.",
        "There is no language xx.",
    ],
)
def test_a_server_sentence_the_core_does_not_know_stays_whole(message: str) -> None:
    """Not matched by a pattern that is mostly fields ("{module} {right}", "{label}: {problem}"),
    which would translate its pieces into a sentence of two languages."""
    read = as_text(message)
    assert not isinstance(read, Text)
    assert dutch(read) == message


def test_a_refusal_reads_the_same_in_dutch_on_every_engine(ctx: CoreContext) -> None:
    """On a hardened server the refusal is the server's; it translates all the same."""
    service = PersonnelService(ctx)
    clerk, _, _ = _clerk(ctx, can_read_maintenance=False)
    with pytest.raises(PermissionDenied) as refused:
        service.page(clerk)
    assert dutch(message_of(refused.value)).startswith(
        "Uw gebruikersgroep mag Onderhoud niet bekijken."
    )
    admin = service.get(CLI, service.first_page(CLI).rows[0].id)
    with pytest.raises(LastAdministratorError) as last:
        service.delete(CLI, admin.id, admin.version)
    assert "nobody able to administer" in str(last.value)
    assert dutch(message_of(last.value)).startswith("Na deze wijziging zou niemand Systeem")
