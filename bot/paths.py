"""Where the data folders shipped with citebot live.

In a source tree or an editable install, `rules/` and `templates_mail/` sit next
to the `bot` package; in a wheel they are installed inside it as `bot/_data/…`
(see pyproject.toml). Both layouts are looked up, the installed one first.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"citebot data folder {name!r} not found next to {_PACKAGE}")


def rules_dir() -> Path:
    return data_path("rules")


def templates_dir() -> Path:
    return data_path("templates_mail")
