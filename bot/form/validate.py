"""The validation engine: run the rules of rules/checks.toml, in their order.

Each rule is a small function with one contract: given the typed fields, yield
the hits it finds. It never acts. The engine turns hits into findings with the
severity and the French wording of the rules' data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.form.findings import Finding, finding
from bot.form.values import format_amount, format_date
from bot.rules import CheckRule, Rules


@dataclass(frozen=True)
class Hit:
    field: str | None
    variant: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


Fields = dict[str, Any]
RuleFunc = Callable[[Fields, Rules, CheckRule], Iterator[Hit]]
_RULES: dict[str, RuleFunc] = {}


def rule(code: str) -> Callable[[RuleFunc], RuleFunc]:
    def register(func: RuleFunc) -> RuleFunc:
        _RULES[code] = func
        return func

    return register


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _span_years(fields: Fields) -> list[int] | None:
    start, end = fields.get("date_debut"), fields.get("date_fin")
    if start is None or end is None or end < start:
        return None
    return list(range(start.year, end.year + 1))


@rule("champ_manquant")
def missing_fields(fields, rules, check):
    for f in rules.fields:
        if f.required and _empty(fields[f.key]):
            yield Hit(f.key, params={"label": f.label, "section": rules.sections[f.section]})


@rule("dates_incoherentes")
def dates_in_order(fields, rules, check):
    start, end = fields["date_debut"], fields["date_fin"]
    if start and end and end < start:
        yield Hit("date_fin", params={"date_debut": format_date(start), "date_fin": format_date(end)})


@rule("duree_excessive")
def at_most_n_civil_years(fields, rules, check):
    years = _span_years(fields)
    limit = rules.thresholds["max_civil_years"]
    if years and len(years) > limit:
        yield Hit("date_fin", params={
            "date_debut": format_date(fields["date_debut"]), "date_fin": format_date(fields["date_fin"]),
            "years": len(years), "max_years": limit,
        })


@rule("montant_superieur_cout")
def request_within_cost(fields, rules, check):
    asked, total = fields["montant_sollicite"], fields["cout_total"]
    if asked is not None and total is not None and asked > total:
        yield Hit("montant_sollicite", params={
            "montant_sollicite": format_amount(asked), "cout_total": format_amount(total),
        })


@rule("repartition_annuelle")
def split_by_civil_year(fields, rules, check):
    years = _span_years(fields)
    if not years or not 1 < len(years) <= rules.thresholds["max_civil_years"]:
        return
    split, asked = fields["repartition"], fields["montant_sollicite"]
    shown = " et ".join(str(y) for y in years)
    if not split:
        yield Hit("repartition", "missing", {
            "years": shown, "montant_sollicite": format_amount(asked) if asked is not None else "à préciser",
        })
        return
    for year in split:
        if int(year) not in years:
            yield Hit("repartition", "year", {"year": year, "years": shown})
    total = sum(split.values(), Decimal(0))
    if asked is not None and abs(total - asked) > Decimal(rules.thresholds["repartition_tolerance"]):
        yield Hit("repartition", "sum", {"total": format_amount(total), "montant_sollicite": format_amount(asked)})


@rule("materiel_plafond")
def equipment_unit_price_cap(fields, rules, check):
    cap = rules.materiel_max_unit_price
    for line in fields["materiel"]:
        price = line["prix_unitaire_ht"]
        if price is not None and price > cap:
            yield Hit("materiel", params={
                "designation": line["designation"] or "sans désignation",
                "prix": format_amount(price), "plafond": format_amount(cap, cents=False),
            })


@rule("engagement_communication")
def communication_commitment(fields, rules, check):
    if fields["engagement_communication"] is False:
        yield Hit("engagement_communication", params={"mention": rules.communication["mention"]})


@rule("avis_requis")
def school_time_needs_avis(fields, rules, check):
    if check.params["option"] in (fields[check.params["field"]] or []):
        yield Hit(check.params["field"])


@rule("photos_mineurs")
def image_consent(fields, rules, check):
    if fields["photos_mineurs"] is True:
        yield Hit("photos_mineurs")


def validate(fields: Fields, rules: Rules, already: list[Finding] = ()) -> list[Finding]:
    """Findings of every rule, in the order of rules/checks.toml.

    `already` are the reader's findings (values it could not understand): they
    take the place of the rule of the same code, and a field with an invalid
    value is not also reported as missing.
    """
    invalid = {f.field for f in already}
    out: list[Finding] = []
    for check in rules.checks:
        func = _RULES.get(check.code)
        if func is None:  # findings produced while reading (valeur_invalide)
            out.extend(f for f in already if f.code == check.code)
            continue
        for hit in func(fields, rules, check):
            if check.code == "champ_manquant" and hit.field in invalid:
                continue
            out.append(finding(rules, check.code, hit.field, hit.variant, **hit.params))
    return out
