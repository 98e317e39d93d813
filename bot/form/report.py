"""Present a CheckResult: the JSON of cli.md, and a French report for people."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from bot.form.check import FICHE, CheckResult
from bot.form.values import format_amount, format_date
from bot.rules import Rules


def json_value(value: Any) -> Any:
    """Amounts as strings with two decimals, dates in ISO, never floats."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def as_json(result: CheckResult, filename: str) -> dict:
    return {
        "file": filename,
        "kind": result.kind,
        "fields": json_value(result.fields),
        "findings": [f.as_dict() for f in result.findings],
        "valid": result.valid,
    }


def display_value(value: Any, rules: Rules, key: str) -> str:
    """A field value as a porteur would write it (French amounts and dates, option labels)."""
    f = rules.field(key)
    if value is None or value == [] or value == {}:
        return "—"
    if f.type in ("choice", "multichoice", "yesno"):
        labels = {o.key: o.label for o in rules.options[f.options or "yesno"]}
        if f.type == "yesno":
            return "Oui" if value else "Non"
        return ", ".join(labels[k] for k in ([value] if isinstance(value, str) else value))
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, date):
        return format_date(value)
    if f.type == "objectives":
        return ", ".join(value)
    if f.type == "repartition":
        return " ; ".join(f"{y} : {format_amount(a)}" for y, a in value.items())
    if f.type == "materiel":
        return " ; ".join(
            f"{line['designation'] or '?'} × {line['quantite'] or '?'} à "
            f"{format_amount(line['prix_unitaire_ht']) if line['prix_unitaire_ht'] is not None else '?'} HT"
            for line in value
        )
    return str(value).replace("\n", " / ")


def as_text(result: CheckResult, filename: str, rules: Rules) -> str:
    kinds = {"fiche_projet": "fiche projet", "inconnu": "document Word qui n'est pas une fiche projet",
             "illisible": "fichier illisible"}
    out = [f"Fichier : {filename} ({kinds[result.kind]})", ""]
    if result.kind == FICHE:
        out.append("Champs lus :")
        width = max(len(f.label) for f in rules.fields)
        for f in rules.fields:
            out.append(f"  {f.label.ljust(width)}  {display_value(result.fields[f.key], rules, f.key)}")
        out.append("")
    errors = [f for f in result.findings if f.severity == "error"]
    warnings = [f for f in result.findings if f.severity == "warning"]
    for title, group in (("À corriger", errors), ("Pour information", warnings)):
        if group:
            out.append(f"{title} ({len(group)}) :")
            out.extend(f"  - {f.message}" for f in group)
            out.append("")
    if result.valid:
        out.append("Résultat : la fiche projet est complète.")
    elif result.kind == FICHE:
        n = len(errors)
        out.append(f"Résultat : la fiche projet est incomplète ({n} point{'s' if n > 1 else ''} à corriger).")
    else:
        out.append("Résultat : ce fichier ne peut pas être traité comme une fiche projet.")
    return "\n".join(out)
