"""Hostile arguments to the real ``pmdesk user add``, as a deployment script might pass them,
signed in as the first administrator: each is refused with exit code 1 and exactly one readable
line on stderr (control characters shown as escapes, never sent to the terminal raw), no
traceback, and no row stored.

The cases run as real subprocesses (about a second each), four at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from pmdesk.core.db import Database
from pmdesk.core.models import Person
from tests.helpers.cli import database_arg, run_pmdesk, sign_in_as

GOOD = {"login": "newuser", "email": "new@example.com", "group": "Administrator"}
PASSWORD = b"A-good-long-password\n"


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # a phrase of the one-line message
    login: str = GOOD["login"]
    email: str = GOOD["email"]
    group: str = GOOD["group"]
    first: str = ""
    last: str = ""
    password: bytes = PASSWORD


CASES = [
    Case("space in login", "Login may use", login="bad login"),
    Case("rtl override in login", "Login may use", login="\u202enimda"),
    Case("65-character login", "Login may use", login="a" * 65),
    Case("undecodable login", "Login may use", login="\udcff\udcfe"),
    Case("accented login", "Login may use", login="ädmin"),
    Case("taken login", "already taken", login="ADMIN"),
    Case("no at sign", "not a valid e-mail", email="no-at-sign"),
    Case("no top-level domain", "not a valid e-mail", email="a@b"),
    Case("rtl in e-mail", "not a valid e-mail", email="\u202ea@b.com"),
    Case("newline in e-mail", "not a valid e-mail", email="a\n@b.com"),
    Case("300-character e-mail", "not a valid e-mail", email="x" * 300 + "@x.com"),
    Case("unknown group", "Unknown group", group="NoSuchGroup"),
    Case("escape sequence in group", "Unknown group", group="\x1b[31mAdministrator"),
    Case("newline in group", "Unknown group", group="Admin\nistrator"),
    Case("bell in forename", "control or invisible", first="Be\x07ll"),
    Case("101-character forename", "at most 100", first="x" * 101),
    Case("zero-width lastname", "control or invisible", last="Zero\u200bWidth"),
    Case("tab in lastname", "control or invisible", last="Tab\tName"),
    Case("short password", "at least 8", password=b"short\n"),
    Case("undecodable password", "not valid text", password=b"\xff\xfe\xfd-long-password\n"),
    Case("empty password", "needs a password", password=b"\n"),
    Case("no password at all", "needs a password", password=b""),
]


def add_user(url: str, case: Case) -> subprocess.CompletedProcess[bytes]:
    args = [sys.executable, "-m", "pmdesk", "--database", url, "user", "add", case.login]
    args += ["--email", case.email, "--group", case.group, "--password-stdin"]
    if case.first:
        args += ["--first-name", case.first]
    if case.last:
        args += ["--last-name", case.last]
    return subprocess.run(
        args, input=case.password, capture_output=True, timeout=120, check=False, env=os.environ
    )


@pytest.mark.slow
def test_bad_arguments_are_one_clear_line_and_store_nothing(sqlite_db: Database) -> None:
    url = database_arg(sqlite_db)
    first = run_pmdesk(
        "--database", url, "user", "add", "admin", "--email", "admin@example.com",
        "--group", "Administrator", "--password-stdin", stdin="Admin-password-1\n",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    sign_in_as(sqlite_db, "admin")  # the helpdesk adds the others, signed in

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: (case, add_user(url, case)), CASES))

    problems = []
    for case, result in results:
        err = result.stderr.decode("utf-8", errors="replace")
        lines = err.splitlines()
        if result.returncode != 1:
            problems.append(f"{case.name}: exit code {result.returncode}: {err!r}")
        if len(lines) != 1 or not lines[0].startswith("pmdesk: "):
            problems.append(f"{case.name}: not one 'pmdesk:' line: {err!r}")
        if "Traceback" in err:
            problems.append(f"{case.name}: traceback")
        if "\x1b" in err or any(not ch.isprintable() for ch in err.rstrip("\n")):
            problems.append(f"{case.name}: raw control characters on stderr: {err!r}")
        if case.expected not in err:
            problems.append(f"{case.name}: {case.expected!r} not in {err!r}")
        if result.stdout:
            problems.append(f"{case.name}: printed {result.stdout!r}")
    assert problems == [], "\n".join(problems)

    with sqlite_db.session() as s:
        logins = list(s.execute(select(Person.login)).scalars())
    assert logins == ["admin"], "no refused command stored a row"
