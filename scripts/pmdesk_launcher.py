"""Entry script of the PyInstaller build (pmdesk.spec): the frozen ``pmdesk`` executable.

Kept outside the package so that PyInstaller runs it as ``__main__`` while ``pmdesk`` itself is
collected as an ordinary package (an entry script inside the package would be imported twice).
"""

from pmdesk.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
