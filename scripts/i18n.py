#!/usr/bin/env python3
"""pmdesk's translations with Qt's tools (docs/i18n.md).

    scripts/i18n.py update    # lupdate: every marked string of pmdesk into the .ts sources
    scripts/i18n.py release   # lrelease: the .ts sources into the .qm files that ship
    scripts/i18n.py check     # fails when a string has no translation or a .qm is stale
    scripts/i18n.py merge PART.ts ...  # fill the .ts sources from partial ones (same language)

``check`` changes nothing: it runs lupdate on copies of the ``.ts`` files and lrelease into a
temporary folder. A ``.qm`` is stale when it differs from what lrelease makes of its ``.ts`` now
(file times say nothing in a fresh clone, where every file is as new as the checkout).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from pmdesk.core.i18n import ENGLISH, SUPPORTED_LANGUAGES, catalog_stem, read_ts

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pmdesk"
I18N = PACKAGE / "resources" / "i18n"
# Every language but the one the strings are written in: its .ts file, by Qt's language name.
TARGETS = {
    code.replace("-", "_"): f"{catalog_stem(code)}.ts"
    for code in SUPPORTED_LANGUAGES
    if code != ENGLISH
}
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / f"pyside6-{name}"
    return str(found) if found.exists() else f"pyside6-{name}"


def sources() -> list[Path]:
    """Every Python file of the package (migrations and SQL hold nothing for people to read)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def run_lupdate(ts_files: list[Path]) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lst", delete=False) as listing:
        listing.write("\n".join(str(p) for p in sources()))
    try:
        result = subprocess.run(
            [
                _tool("lupdate"),
                "-no-obsolete",
                "-locations",
                "none",
                "-source-language",
                "en_GB",
                f"@{listing.name}",
                "-ts",
                *map(str, ts_files),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(listing.name).unlink()
    return result.stdout + result.stderr


def run_lrelease(ts_file: Path, qm_file: Path) -> None:
    subprocess.run(
        [_tool("lrelease"), "-silent", "-nounfinished", str(ts_file), "-qm", str(qm_file)],
        check=True,
    )


def unfinished(ts_file: Path) -> list[str]:
    """``context: source`` of each message without a finished translation."""
    return [f"{m.context}: {m.source}" for m in read_ts(ts_file) if not m.finished]


def placeholder_mismatches(ts_file: Path) -> list[str]:
    """Translations whose ``{field}`` names differ from their source's (``format`` would fail)."""
    field = re.compile(r"\{(\w*)\}")
    return [
        f"{m.context}: {m.source!r} -> {m.text!r}"
        for m in read_ts(ts_file)
        if m.text and sorted(field.findall(m.source)) != sorted(field.findall(m.text))
    ]


def update() -> int:
    I18N.mkdir(parents=True, exist_ok=True)
    for language, name in TARGETS.items():
        target = I18N / name
        if not target.exists():
            target.write_text(
                '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n'
                f'<TS version="2.1" language="{language}" sourcelanguage="en_GB">\n</TS>\n',
                encoding="utf-8",
            )
    print(run_lupdate([I18N / name for name in TARGETS.values()]))
    return 0


def _translations(ts_file: Path) -> tuple[str, dict[tuple[str, str], str]]:
    language = ElementTree.parse(ts_file).getroot().get("language", "")  # noqa: S314
    return language, {(m.context, m.source): m.text for m in read_ts(ts_file) if m.finished}


def merge(parts: list[Path]) -> int:
    """Fill each language's .ts from the finished messages of ``parts`` (a part wins)."""
    update()
    by_language: dict[str, dict[tuple[str, str], str]] = {}
    for part in parts:
        language, found = _translations(part)
        by_language.setdefault(language, {}).update(found)
    for language, name in TARGETS.items():
        known = by_language.get(language, {})
        target = I18N / name
        tree = ElementTree.parse(target)  # noqa: S314
        filled = 0
        for context in tree.getroot().iter("context"):
            context_name = context.findtext("name") or ""
            for message in context.iter("message"):
                text = known.get((context_name, message.findtext("source") or ""))
                translation = message.find("translation")
                if text is None or translation is None:
                    continue
                translation.text = text
                translation.attrib.pop("type", None)
                filled += 1
        tree.write(target, encoding="utf-8", xml_declaration=True)
        print(f"{name}: {filled} messages from the parts")
    update()  # lupdate writes the files back in its own layout
    release()
    return 0


def release() -> int:
    for name in TARGETS.values():
        run_lrelease(I18N / name, I18N / name.replace(".ts", ".qm"))
    return 0


def check() -> int:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        copies = []
        for name in TARGETS.values():
            copy = Path(scratch) / name
            shutil.copy(I18N / name, copy)
            copies.append(copy)
        run_lupdate(copies)
        for copy in copies:
            if copy.read_bytes() != (I18N / copy.name).read_bytes():
                problems.append(f"{copy.name} is not up to date: run scripts/i18n.py update")
            missing = unfinished(copy)
            problems += [f"{copy.name}: no translation for {m}" for m in missing]
            problems += [f"{copy.name}: fields differ: {m}" for m in placeholder_mismatches(copy)]
            fresh = Path(scratch) / copy.name.replace(".ts", ".qm")
            run_lrelease(I18N / copy.name, fresh)
            shipped = I18N / fresh.name
            if not shipped.exists() or shipped.read_bytes() != fresh.read_bytes():
                problems.append(
                    f"{shipped.name} is older than its .ts: run scripts/i18n.py release"
                )
    for problem in problems:
        print(problem)
    print(f"{len(problems)} translation problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "merge":
        sys.exit(merge([Path(p) for p in sys.argv[2:]]))
    commands = {"update": update, "release": release, "check": check}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(__doc__)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]]())
