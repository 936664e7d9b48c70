"""Why a test's postgresql variant does not run on the hardened leg (``--pg-hardened``): the
reasons shared by several files, for ``@pytest.mark.not_hardened`` (tests/conftest.py)."""

from __future__ import annotations

import pytest

RELAY_DELIVERS = pytest.mark.not_hardened(
    "the relay sends the codes there, with its own settings and secrets, never the "
    "workstation: delivery and its failures are tested in tests/core/test_relay*.py"
)
LOOPBACK_NEVER_TRUSTED = pytest.mark.not_hardened(
    "needs an address the server trusts, and the server sees the test's loopback address, "
    "which it never trusts: trust from a routable address runs in tests/e2e/test_cli_login.py "
    "(network namespace) and tests/core/test_server_login.py"
)
SERVER_PASSWORDS = pytest.mark.not_hardened(
    "about the client's own password check: there the server checks a bcrypt of the "
    "client's argon2 proof (tests/core/test_server_passwords.py, tests/server)"
)
SERVER_SESSIONS = pytest.mark.not_hardened(
    "about the sessions the client keeps: there the server keeps them "
    "(tests/core/test_server_sessions.py)"
)
SIGN_IN_TRUST = pytest.mark.not_hardened(
    "about the client trusting an address at sign-in: there the server's check_code does it "
    "(tests/core/test_server_login.py)"
)
SWEPT_BY_RELAY = pytest.mark.not_hardened(
    "about the workstation's expiry sweep: there the relay sweeps "
    "(tests/core/test_relay_functions.py, tests/core/test_server_login.py)"
)
WITHOUT_SIGN_IN = pytest.mark.not_hardened(
    "calls a command's function without the sign-in the command line does first; the command "
    "itself runs signed in on the hardened leg in tests/e2e"
)
ONE_PERSON_PER_PROCESS = pytest.mark.not_hardened(
    "two people act at once through one Database: there a workstation process acts as the one "
    "person signed in on it (Database.use_session), so two at once are two workstations"
)
