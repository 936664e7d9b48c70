"""Regression guard for a PySide6 crash with ``Signal(bool)``.

PySide6-Essentials 6.12.0 on CPython 3.11 aborts the interpreter
(``Fatal Python error: bool_dealloc``, exit status 134) after a few hundred
emissions of a ``Signal(bool)`` into a Python slot: the bool singletons'
reference counts are decremented once too often. The emission loop runs in a
subprocess so that such an abort fails this test instead of killing pytest.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

EMISSIONS = 5000

_CHILD = textwrap.dedent(
    """
    import sys

    from PySide6.QtCore import QCoreApplication, QObject, Signal


    class Toggler(QObject):
        toggled = Signal(bool)


    seen: list[bool] = []


    def on_toggled(value: bool) -> None:
        seen.append(value)


    app = QCoreApplication(sys.argv[:1])
    toggler = Toggler()
    toggler.toggled.connect(on_toggled)
    for i in range({emissions}):
        toggler.toggled.emit(i % 2 == 0)
    print("count", len(seen))
    print("true", seen.count(True))
    print("false", seen.count(False))
    print("types", sorted({{type(v).__name__ for v in seen}}))
    """
).format(emissions=EMISSIONS)


def _parse(stdout: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        result[key] = value
    return result


def test_bool_signal_survives_many_emissions() -> None:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, (
        f"child exited with {proc.returncode} (-6 = SIGABRT, e.g. 'Fatal Python error: "
        f"bool_dealloc')\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    out = _parse(proc.stdout)
    assert out.get("count") == str(EMISSIONS), proc.stdout
    assert out.get("true") == str(EMISSIONS // 2), proc.stdout
    assert out.get("false") == str(EMISSIONS - EMISSIONS // 2), proc.stdout
    assert out.get("types") == "['bool']", proc.stdout


def _release(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def test_pyside6_is_not_known_broken_combination() -> None:
    version = importlib.metadata.version("PySide6-Essentials")
    broken = _release(version)[:2] == (6, 12) and sys.version_info < (3, 12)
    assert not broken, (
        f"PySide6-Essentials {version} on Python {sys.version.split()[0]} is known to abort "
        "after repeated Signal(bool) emissions; pin PySide6-Essentials<6.12 for Python < 3.12"
    )
