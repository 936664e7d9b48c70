"""E-mail through Microsoft Graph sendMail, the token from the local Entra ID stand-in (real
MSAL), the request checked by a local Graph stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.delivery.graph import GraphDelivery
from pmdesk.core.delivery.oauth import GRAPH_SCOPE, TokenCache
from pmdesk.secrets import MemoryStore, m365_key
from tests.helpers.messages import make_message
from tests.helpers.providers import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAILBOX,
    TENANT,
    Entra,
    Graph,
    endpoints_for,
)
from tests.helpers.smtp import extract_code

CODE = "590417"


def code_message(**changes: object) -> CodeMessage:
    return make_message(CODE, **changes)


def graph_delivery(
    graph: Graph, entra: Entra, cache: TokenCache, sender: str = MAILBOX
) -> GraphDelivery:
    settings = DeliverySettings(
        method="graph", smtp_from=sender, m365_tenant_id=TENANT, m365_client_id=CLIENT_ID
    )
    secrets = MemoryStore()
    secrets.set(m365_key(TENANT, CLIENT_ID, "secret"), CLIENT_SECRET)
    delivery = delivery_for(
        settings,
        secrets,
        Path("unused"),
        ssl_context=graph.stand_in_context,
        timeout=5,
        endpoints=endpoints_for(entra=entra, graph=graph),
        tokens=cache,
    )
    assert isinstance(delivery, GraphDelivery)
    return delivery


def failure(delivery: GraphDelivery) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        delivery.send(code_message())
    assert CODE not in str(info.value)
    return info.value


def test_send_mail_request_as_documented(
    graph: Graph, entra: Entra, token_cache: TokenCache
) -> None:
    delivery = graph_delivery(graph, entra, token_cache)
    assert delivery.label == f"E-mail via Microsoft Graph (HTTPS, from {MAILBOX})"
    assert delivery.encrypted is True
    delivery.send(code_message())
    delivery.send(code_message())

    assert [form["scope"] for form in entra.token_requests] == [GRAPH_SCOPE]  # cached
    first, second = graph.received
    assert first.path == f"/v1.0/users/{MAILBOX}/sendMail"
    assert first.headers["content-type"] == "application/json"
    token = first.headers["authorization"].removeprefix("Bearer ")
    assert entra.issued[token] == GRAPH_SCOPE
    message = first.json["message"]
    assert message["subject"] == "pmdesk security code"
    assert message["toRecipients"] == [
        {"emailAddress": {"address": "anna.peeters@workshop.example", "name": "Anna Peeters"}}
    ]
    assert extract_code(message["body"]["content"]) == CODE
    assert first.json["saveToSentItems"] is False
    assert second.headers["authorization"] == first.headers["authorization"]


def test_mail_send_not_granted(graph: Graph, entra: Entra, token_cache: TokenCache) -> None:
    graph.mail_send = False
    error = failure(graph_delivery(graph, entra, token_cache))
    assert error.step == "authenticate"
    text = str(error)
    assert text.startswith(f"Microsoft Graph does not let the app send as {MAILBOX}")
    assert "Mail.Send application permission with admin consent" in text
    assert "ErrorAccessDenied" in text


def test_unknown_mailbox(graph: Graph, entra: Entra, token_cache: TokenCache) -> None:
    error = failure(graph_delivery(graph, entra, token_cache, sender="nobody@workshop.example"))
    assert error.step == "send"
    assert str(error).startswith(
        "Microsoft Graph does not know the mailbox nobody@workshop.example"
    )
    assert "ErrorInvalidUser" in str(error)


def test_token_for_another_audience_is_refused_and_forgotten(
    graph: Graph, entra: Entra, token_cache: TokenCache
) -> None:
    delivery = graph_delivery(graph, entra, token_cache)
    delivery.send(code_message())
    entra.issued.clear()  # Graph no longer accepts the tokens issued so far
    error = failure(delivery)
    assert error.step == "authenticate"
    assert "InvalidAuthenticationToken" in str(error)
    delivery.send(code_message())  # a new token is fetched
    assert len(entra.token_requests) == 2


def test_wrong_tenant_is_a_token_failure(
    graph: Graph, entra: Entra, token_cache: TokenCache
) -> None:
    entra.tenant = "another-tenant.onmicrosoft.com"
    error = failure(graph_delivery(graph, entra, token_cache))
    assert error.step == "token"
    assert "AADSTS90002" in str(error)
    assert graph.received == []
