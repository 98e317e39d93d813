"""Click's own words in French: usage, help, errors and suggestions.

Click writes its messages through gettext (`_()` and `ngettext()` in each of its
modules), so a catalogue of its English messages and their French is installed
in their place, once, before the command line runs. Also: the dates the
commands accept (AAAA-MM-JJ or JJ/MM/AAAA) and the statuses by key or label.
"""

from __future__ import annotations

import re
from datetime import datetime

import click

from bot import text as typography

FRENCH = {
    "Usage:": "Utilisation :",
    "Options": "Options",
    "Commands": "Commandes",
    "Positional arguments": "Arguments",
    "Show this message and exit.": "Affiche cette aide et s'arrête.",
    "Show the version and exit.": "Affiche la version et s'arrête.",
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "Error: {message}": "Erreur : {message}",
    "Try '{command} {option}' for help.": "Pour l'aide : « {command} {option} ».",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Missing argument": "Argument manquant",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing {param_type}": "{param_type} manquant",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "Missing command.": "Commande manquante.",
    "No such command {name!r}.": "Commande inconnue : « {name} ».",
    "No such option {name!r}.": "Option inconnue : « {name} ».",
    "Option {name!r} does not take a value.": "L'option « {name} » ne prend pas de valeur.",
    "Argument {name!r} takes {nargs} values.": "L'argument « {name} » prend {nargs} valeurs.",
    "Aborted!": "Abandon.",
    "Do you want to continue?": "Voulez-vous continuer ?",
    "Confirm the action without prompting.": "Confirme l'action sans la demander.",
    "Repeat for confirmation": "Répétez pour confirmer",
    "Error: The two entered values do not match.": "Erreur : les deux valeurs saisies diffèrent.",
    "Error: invalid input": "Erreur : saisie invalide",
    "Press any key to continue...": "Appuyez sur une touche pour continuer…",
    "default: {default}": "par défaut : {default}",
    "env var: {var}": "variable d'environnement : {var}",
    "required": "obligatoire",
    "deprecated": "obsolète",
    "(dynamic)": "(dynamique)",
    "file": "fichier",
    "directory": "dossier",
    "path": "chemin",
    "{name} {filename!r} does not exist.": "{name} « {filename} » introuvable.",
    "{name} {filename!r} is a file.": "{name} « {filename} » est un fichier.",
    "{name} {filename!r} is a directory.": "{name} « {filename} » est un dossier.",
    "{name} {filename!r} is not readable.": "{name} « {filename} » n'est pas lisible.",
    "{name} {filename!r} is not writable.": "{name} « {filename} » n'est pas accessible en écriture.",
    "{name} {filename!r} is not executable.": "{name} « {filename} » n'est pas exécutable.",
    "Could not open file {filename!r}: {message}": "Impossible d'ouvrir le fichier « {filename} » : {message}",
    "{value!r} is not a valid {number_type}.": "« {value} » n'est pas un nombre valide ({number_type}).",
    "{value} is not in the range {range}.": "{value} n'est pas dans l'intervalle {range}.",
    "{value!r} is not a valid UUID.": "« {value} » n'est pas un UUID valide.",
    "Value must be an iterable.": "La valeur doit être une liste.",
    "Choose from:\n\t{choices}": "Choisissez parmi :\n\t{choices}",
    "unknown error": "erreur inconnue",
}
# ngettext: (singular, plural) -> (French singular, French plural)
FRENCH_PLURALS = {
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        ("Vouliez-vous dire {possibility} ?", "(Vouliez-vous dire l'un de : {possibilities} ?)"),
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        ("Argument en trop : {args}", "Arguments en trop : {args}"),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        ("L'option « {name} » attend une valeur.", "L'option « {name} » attend {nargs} valeurs."),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        ("« {value} » n'est pas {choice}.", "« {value} » n'est pas l'un de : {choices}."),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."):
        ("« {value} » ne correspond pas au format {format}.", "« {value} » ne correspond à aucun des formats {formats}."),
}
# Click's modules that say something through gettext.
_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types", "utils")


def gettext(message: str) -> str:
    return typography.spaces(FRENCH.get(message, message))


def ngettext(singular: str, plural: str, count: int) -> str:
    french = FRENCH_PLURALS.get((singular, plural))
    if french is None:
        return singular if count == 1 else plural
    return typography.spaces(french[0] if count < 2 else french[1])


_QUOTED = re.compile(r"(?<!\w)'([^'\n]+?)'(?!\w)")


def _guillemets(text: str | None) -> str | None:
    """« --today » rather than '--today': click quotes names the English way."""
    return None if text is None else typography.spaces(_QUOTED.sub(r"« \1 »", text))


def _possibilities(possibilities) -> str:
    names = ", ".join(f"« {p} »" for p in sorted(possibilities))
    return ngettext("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)",
                    len(possibilities)).format(possibility=names, possibilities=names)


def install() -> None:
    """Put the French catalogue in place of click's gettext (idempotent); the names
    click quotes in its errors (an option, a suggested command) in guillemets."""
    import importlib

    for name in _MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext
    exceptions = importlib.import_module("click.exceptions")
    if getattr(exceptions, "_citebot_french", False):
        return
    exceptions._format_possibilities = _possibilities
    for cls in vars(exceptions).values():
        if isinstance(cls, type) and issubclass(cls, click.ClickException) and "format_message" in vars(cls):
            cls.format_message = _in_guillemets(vars(cls)["format_message"])
    exceptions._citebot_french = True
    formatting = importlib.import_module("click.formatting")
    formatting.HelpFormatter.write_heading = _write_heading


def _write_heading(self, heading: str) -> None:
    """« Options : », the French colon after the headings of the help."""
    self.write(f"{'':>{self.current_indent}}{heading}{typography.NBSP}:\n")


def _in_guillemets(format_message):
    def french(self) -> str:
        return _guillemets(format_message(self))
    return french


class FrenchGroup(click.Group):
    """A group whose usage line and sub-commands say « COMMANDE [ARGUMENTS]… »."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("subcommand_metavar", "COMMANDE [ARGUMENTS]...")
        super().__init__(*args, **kwargs)


FrenchGroup.group_class = FrenchGroup


class Day(click.ParamType):
    """A day written AAAA-MM-JJ or JJ/MM/AAAA (also JJ-MM-AAAA, JJ.MM.AAAA)."""

    name = "date"
    _DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")

    def get_metavar(self, param, ctx=None) -> str:
        return "JJ/MM/AAAA"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            if m := self._DMY.match(text):
                return datetime(int(m[3]), int(m[2]), int(m[1]))
            return datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            self.fail(typography.spaces(
                f"« {text} » n'est pas une date : écrivez-la JJ/MM/AAAA (par exemple 01/12/2026) ou AAAA-MM-JJ."),
                param, ctx)


class Status(click.ParamType):
    """A dossier status by its key (« accepte ») or the label the lists show (« accepté »)."""

    name = "statut"

    @property
    def labels(self) -> dict[str, str]:
        from bot.dossier.views import STATUS_LABELS  # only when a status is given: the CLI starts fast

        return STATUS_LABELS

    def get_metavar(self, param, ctx=None) -> str:
        return "STATUT"

    def convert(self, value, param, ctx):
        from bot.text import normalize

        wanted = normalize(str(value))
        for key, label in self.labels.items():
            if wanted in (normalize(key), normalize(label)):
                return key
        known = ", ".join(f"« {label} »" for label in self.labels.values())
        self.fail(typography.spaces(f"statut « {value} » inconnu ; les statuts : {known}."), param, ctx)
