"""The layout of the package is its architecture: who may import whom.

entry points (cli, daemon, demo) -> poller -> dossier -> mail, form, store
-> config, rules, clock, paths, text. The rules are checked on the real import
graph, read with `ast` from every module of bot/ (imports inside functions and
under TYPE_CHECKING count as well: a layer is a layer).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"

# The modules allowed at the top of bot/: what ties the sub-packages together.
TOP = {"__init__", "__main__", "cli", "cli_fr", "daemon", "demo", "poller", "read_ahead", "config", "rules", "clock", "paths", "text"}
SUBPACKAGES = {"form", "mail", "dossier", "store"}
BASE = {"bot.config", "bot.rules", "bot.clock", "bot.paths", "bot.text"}

# What each part of bot/ may never import (prefixes of module names).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "base": ("bot.form", "bot.mail", "bot.dossier", "bot.store", "bot.poller", "bot.cli", "bot.daemon",
             "bot.demo"),
    "bot.form": ("bot.mail", "bot.dossier", "bot.store", "bot.poller", "bot.cli", "bot.daemon", "bot.demo"),
    "bot.store": ("bot.form", "bot.mail", "bot.dossier", "bot.poller", "bot.cli", "bot.daemon", "bot.demo"),
    "bot.mail": ("bot.dossier", "bot.poller", "bot.cli", "bot.daemon", "bot.demo"),
    "bot.dossier": ("bot.poller", "bot.cli", "bot.daemon", "bot.demo"),
    "bot.poller": ("bot.cli", "bot.daemon", "bot.demo"),
    "bot.read_ahead": ("bot.dossier", "bot.store", "bot.poller", "bot.cli", "bot.daemon", "bot.demo"),
    "bot.daemon": ("bot.cli", "bot.demo"),
    "bot.demo": ("bot.cli", "bot.daemon"),
}


def module_name(path: Path, root: Path) -> str:
    parts = ("bot",) + path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str) -> set[str]:
    """Every bot module `tree` imports: `import bot.x`, `from bot.x import y`
    (y itself when it is a module), `from bot import x`, relative imports."""
    package = module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "bot" or name.startswith("bot.")}


def graph(root: Path = BOT) -> dict[str, set[str]]:
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    return {name: {i for i in imported(ast.parse(path.read_text(encoding="utf-8")), name)
                   if i in modules or i.rsplit(".", 1)[0] in modules}
            for name, path in modules.items()}


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    for prefix in FORBIDDEN:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return ""


def violations(imports: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(imports.items()):
        for target in sorted(targets):
            banned = FORBIDDEN.get(layer(module), ())
            if any(target == b or target.startswith(b + ".") for b in banned):
                found.append(f"{module} imports {target}")
    return found


def test_every_import_follows_the_direction_of_the_layers():
    assert violations(graph()) == []


def test_only_the_modules_that_tie_the_parts_together_sit_at_the_top_of_bot():
    top = {p.stem for p in BOT.glob("*.py")}
    folders = {p.name for p in BOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert top <= TOP, f"modules at the top of bot/ that belong in a sub-package: {sorted(top - TOP)}"
    assert folders == SUBPACKAGES


def test_each_sub_package_says_what_lives_there_and_what_it_may_import():
    for name in SUBPACKAGES:
        doc = ast.get_docstring(ast.parse((BOT / name / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, name


@pytest.mark.parametrize("module, line, offence", [
    ("form/values.py", "from bot.store.models import Dossier", "bot.form.values imports bot.store.models"),
    ("form/reader.py", "from bot.mail import compose", "bot.form.reader imports bot.mail.compose"),
    ("mail/outbox.py", "from bot.dossier.views import STATUS_LABELS",
     "bot.mail.outbox imports bot.dossier.views"),
    ("dossier/reminders.py", "from bot.poller import Runtime", "bot.dossier.reminders imports bot.poller"),
    ("demo.py", "    from bot.cli import EXIT_OK", "bot.demo imports bot.cli"),
    ("config.py", "from .form import check", "bot.config imports bot.form.check"),
    ("store/models.py", "import bot.form.values", "bot.store.models imports bot.form.values"),
])
def test_a_forbidden_import_is_named_with_the_module_that_makes_it(tmp_path, module, line, offence):
    copy = tmp_path / "bot"
    for path in BOT.rglob("*.py"):
        target = copy / path.relative_to(BOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert violations(graph(copy)) == []
    edited = copy / module
    text = edited.read_text(encoding="utf-8")
    body = "def _probe():\n" + line + "\n" if line.startswith("    ") else line + "\n"
    edited.write_text(text + "\n" + body, encoding="utf-8")
    assert offence in violations(graph(copy))
