"""Issue 15, point 6: no string without its Dutch and French translation, and no stale .qm.

``scripts/i18n.py check`` runs Qt's lupdate on copies of the .ts files (so a string added to the
code and not yet in them shows up) and lrelease into a scratch folder (so a .qm that is not what
its .ts makes today shows up: a fresh clone's file times cannot tell)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_string_is_translated_and_every_qm_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "i18n.py"), "check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.stdout.strip().endswith("0 translation problem(s)")


def _check_module() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_finds_a_missing_translation_and_a_field_that_differs(tmp_path: Path) -> None:
    script = _check_module()
    ts = tmp_path / "x.ts"
    ts.write_text(
        '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE TS><TS version="2.1" language="fr_BE">'
        "<context><name>Ctx</name>"
        '<message><source>Save</source><translation type="unfinished"></translation></message>'
        "<message><source>{n} removed</source><translation>{nombre} retirées</translation>"
        "</message><message><source>Close</source><translation>Fermer</translation></message>"
        "</context></TS>",
        encoding="utf-8",
    )
    assert script.unfinished(ts) == ["Ctx: Save"]  # type: ignore[attr-defined]
    mismatches = script.placeholder_mismatches(ts)  # type: ignore[attr-defined]
    assert mismatches == ["Ctx: '{n} removed' -> '{nombre} retirées'"]
