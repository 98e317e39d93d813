"""The `citebot` command line (contract: ../shared/spec/cli.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXIT_VALID, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """citebot : le robot de réception des fiches projet de la Cité éducative."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Résultat en JSON sur la sortie standard.")
def check(file: Path, as_json: bool) -> None:
    """Lit et vérifie une fiche projet (.docx), sans configuration."""
    from bot.check import FICHE, UNREADABLE, check_bytes
    from bot.report import as_json as to_json
    from bot.report import as_text
    from bot.rules import load_rules

    try:
        data = file.read_bytes()
    except OSError as exc:
        click.echo(f"Impossible de lire le fichier {file} : {exc.strerror or exc}.", err=True)
        sys.exit(EXIT_UNREADABLE)
    rules = load_rules()
    result = check_bytes(data, rules)
    if as_json:
        click.echo(json.dumps(to_json(result, file.name), ensure_ascii=False, indent=2))
    else:
        click.echo(as_text(result, file.name, rules))
    if result.kind == UNREADABLE:
        sys.exit(EXIT_UNREADABLE)
    sys.exit(EXIT_VALID if result.kind == FICHE and result.valid else EXIT_FINDINGS)


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def template(out: Path) -> None:
    """Écrit la fiche projet vierge (.docx)."""
    from bot.rules import load_rules
    from bot.template import build_template

    try:
        out.write_bytes(build_template(load_rules()))
    except OSError as exc:
        click.echo(f"Impossible d'écrire {out} : {exc.strerror or exc}.", err=True)
        sys.exit(1)
    click.echo(f"Fiche projet vierge écrite dans {out}.")
