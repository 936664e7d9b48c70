"""``pmdesk relay secret set | status`` (docs/server-enforced.md §6.6), run as an administrator
runs it on the relay host: the real command in a subprocess with the relay role's URL, the real
keyring (scripts/with-test-env gives a throwaway one) or a folder of systemd credentials. What
is checked is where the secret ends up, that the relay's own check then finds it, and that the
secret is never printed.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmdesk.core.relay import CredentialsStore, RelayKeyring, relay_problem
from pmdesk.core.relay_secret import read_relay_settings
from pmdesk.secrets import SecretStoreError, smtp_key
from tests.helpers.cli import run_pmdesk
from tests.helpers.databases import HardenedDatabase
from tests.helpers.pg import sql
from tests.helpers.providers import CLIENT_ID, TENANT, make_key_pair
from tests.helpers.relay import relay_fixtures, relay_url, url_text, use_smtp

hardened, anne = relay_fixtures()
SECRET = "relay pass phrase 7"
USER = "relay-secret-test"  # a keyring entry of this test's own
KEY = smtp_key("127.0.0.1", USER)


@pytest.fixture
def keyring_entry() -> Iterator[RelayKeyring]:
    """The relay account's keyring (scripts/with-test-env), without this test's entry after."""
    store = RelayKeyring()
    try:
        store.delete(KEY)
    except SecretStoreError as exc:
        pytest.fail(f"the test keyring is not usable (run under scripts/with-test-env): {exc}")
    yield store
    store.delete(KEY)


def relay_secret(hardened: HardenedDatabase, *args: str, stdin: str = "") -> tuple[int, str]:
    """``pmdesk relay secret ARGS --database RELAY_URL``: (exit status, stdout + stderr)."""
    result = run_pmdesk(
        "relay", "secret", *args, "--database", url_text(relay_url(hardened)), stdin=stdin
    )
    return result.returncode, result.stdout + result.stderr


def test_set_stores_the_password_in_the_keyring_where_the_relay_reads_it(
    hardened: HardenedDatabase, anne: int, keyring_entry: RelayKeyring, tmp_path: Path
) -> None:
    use_smtp(hardened, "127.0.0.1", 2525, username=USER, security="starttls")
    settings = read_relay_settings(relay_url(hardened))
    assert relay_problem(settings, keyring_entry, tmp_path) == (
        f"The relay has no password for 'smtp' delivery (keyring entry '{KEY}')."
    )
    rc, out = relay_secret(hardened, "status")
    assert rc == 1, out
    assert f"* smtp    password MISSING (keyring entry '{KEY}')" in out

    rc, out = relay_secret(hardened, "set", "--secret-stdin", stdin=SECRET + "\n")
    assert rc == 0, out
    assert f"is stored in this account's keyring (keyring entry '{KEY}')" in out
    assert keyring_entry.get(KEY) == SECRET
    assert relay_problem(settings, keyring_entry, tmp_path) == ""

    rc, out = relay_secret(hardened, "status")
    assert rc == 0, out
    assert f"* smtp    password PRESENT (keyring entry '{KEY}')" in out
    assert SECRET not in out


def test_set_writes_a_systemd_credential_file(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    use_smtp(hardened, "127.0.0.1", 2525, username=USER, security="starttls")
    folder = tmp_path / "etc-pmdesk-relay"
    rc, out = relay_secret(
        hardened, "set", "smtp", "--credentials-dir", str(folder), "--secret-stdin", stdin=SECRET
    )
    assert rc == 0, out
    written = folder / "smtp-password"
    assert f"LoadCredential=smtp-password:{written}" in out and SECRET not in out
    assert written.read_text(encoding="utf-8") == SECRET + "\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert not [p for p in folder.iterdir() if p.name != "smtp-password"], "a temporary file left"
    # What the relay, started by systemd with that folder, reads.
    store = CredentialsStore(folder)
    assert relay_problem(read_relay_settings(relay_url(hardened)), store, tmp_path) == ""
    rc, out = relay_secret(hardened, "status", "--credentials-dir", str(folder))
    assert rc == 0, out
    assert f"* smtp    password PRESENT (credential smtp-password in {folder})" in out


def test_refusals_say_why_and_store_nothing(
    hardened: HardenedDatabase, anne: int, keyring_entry: RelayKeyring
) -> None:
    use_smtp(hardened, "127.0.0.1", 2525, username=USER, security="starttls")
    # No terminal to ask on, and the secret is never an argument.
    rc, out = relay_secret(hardened, "set")
    assert (rc, out.strip()) == (
        1,
        "pmdesk: No terminal to ask for the password: use --secret-stdin.",
    )
    rc, out = relay_secret(hardened, "set", SECRET)
    assert rc == 2 and "invalid choice" in out
    rc, out = relay_secret(hardened, "set", "--secret-stdin", stdin="two\nlines\n")
    assert rc == 0, out  # one line is read: the first
    keyring_entry.delete(KEY)
    rc, out = relay_secret(hardened, "set", "--secret-stdin", stdin="\n")
    assert (rc, out.strip()) == (1, "pmdesk: The password is empty.")
    assert keyring_entry.get(KEY) is None
    # Methods whose settings are not there yet, or that need nothing.
    rc, out = relay_secret(hardened, "set", "twilio", "--secret-stdin", stdin="x")
    assert rc == 1 and "The delivery settings for 'twilio' are not complete yet" in out
    rc, out = relay_secret(hardened, "set", "outbox")
    assert (rc, out.strip()) == (0, "'outbox' delivery needs no secret.")
    sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET google_client_email = 'a@b.c'")
    rc, out = relay_secret(hardened, "set", "google", "--secret-stdin", stdin='{"type": "x"}')
    assert rc == 1 and 'its "type" is not "service_account"' in out
    sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET google_client_email = ''")


def test_a_certificate_key_is_read_whole_from_standard_input(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.security_settings SET m365_tenant_id = %s, m365_client_id = %s, "
        "m365_auth = 'certificate'",
        TENANT,
        CLIENT_ID,
    )
    folder = tmp_path / "credentials"
    try:
        rc, out = relay_secret(hardened, "set", "graph", "--credentials-dir", str(folder))
        assert (rc, out.strip()) == (
            1,
            "pmdesk: Give the certificate private key (PEM) on standard input: "
            "--secret-stdin < FILE",
        )
        rc, out = relay_secret(
            hardened, "set", "graph", "--credentials-dir", str(folder), "--secret-stdin",
            stdin="not a key\n",
        )  # fmt: skip
        assert (rc, out.strip()) == (
            1,
            "pmdesk: The certificate private key (PEM) must be a PEM private key "
            "(-----BEGIN PRIVATE KEY-----).",
        )
        assert not folder.exists() or not list(folder.iterdir())
        pem = make_key_pair("relay test").private_pem
        rc, out = relay_secret(
            hardened, "set", "graph", "--credentials-dir", str(folder), "--secret-stdin",
            stdin=pem,
        )  # fmt: skip
        assert rc == 0, out
        assert "LoadCredential=m365-certificate:" in out and "PRIVATE KEY" not in out
        assert (folder / "m365-certificate").read_text(encoding="utf-8") == pem.strip() + "\n"
    finally:
        sql(
            hardened.owner_url,
            "UPDATE pmdesk.security_settings SET m365_tenant_id = '', m365_client_id = '', "
            "m365_auth = 'secret'",
        )
