"""Give the raw text of each field its type: the values a dossier stores.

A value that cannot be understood becomes a `valeur_invalide` finding that
quotes what was read and says what to write instead; the field is then null.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any

from bot.form import values
from bot.form.findings import Finding, finding
from bot.form.marks import choose, has_marks, segments
from bot.form.reader import RawForm
from bot.rules import Field, Rules
from bot.text import clean_spaces

_OBJECTIVE = re.compile(r"(?<![\d.])(\d{1,2}\.\d{1,2}\.\d{1,2})(?![\d])")
_YEAR_LINE = re.compile(r"^\D{0,20}?((?:19|20)\d{2})\s*[:\-–=]?\s*(.*)$")


@functools.cache
def _placeholder_pattern(placeholders: tuple[str, ...]) -> re.Pattern:
    """One pattern for all of Word's placeholder texts: a field's lines are many, and each is
    searched once rather than once per placeholder."""
    return re.compile("|".join(re.escape(p) for p in placeholders), re.IGNORECASE)


def _strip_placeholders(lines: list[str], rules: Rules) -> list[str]:
    if not rules.placeholders:
        return lines
    pattern = _placeholder_pattern(rules.placeholders)
    return [pattern.sub("", line) for line in lines]


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Interpreter:
    def __init__(self, raw: RawForm, rules: Rules):
        self.raw = raw
        self.rules = rules
        self.findings: list[Finding] = []

    def invalid(self, f: Field, variant: str, **params) -> None:
        self.findings.append(finding(self.rules, "valeur_invalide", f.key, variant, label=f.label, **params))

    def value(self, f: Field) -> Any:
        lines = _strip_placeholders(self.raw.lines(f.key), self.rules)
        handler = getattr(self, "_" + f.type)
        return handler(f, lines)

    # -- one method per field type (rules/fields.toml "type") ---------------
    def _text(self, f: Field, lines: list[str]) -> str | None:
        return clean_spaces("\n".join(lines)) or None

    def _scalar(self, f: Field, lines: list[str], parse) -> Any:
        text = clean_spaces(" ".join(lines))
        if not text:
            return None
        try:
            return parse(text)
        except ValueError:
            self.invalid(f, f.type, value=_quote(text))
            return None

    def _email(self, f, lines):
        return self._scalar(f, lines, values.parse_email)

    def _phone(self, f, lines):
        return self._scalar(f, lines, values.parse_phone)

    def _integer(self, f, lines):
        return self._scalar(f, lines, values.parse_positive_int)

    def _amount(self, f, lines):
        return self._scalar(f, lines, values.parse_amount)

    def _date(self, f, lines):
        return self._scalar(f, lines, lambda t: values.parse_date(t, f.date_bound or "start"))

    def _chosen(self, f: Field, lines: list[str], options_name: str) -> list[str]:
        options = self.rules.options[options_name]
        choice = choose(lines, options)
        if choice.unknown:
            printed = ", ".join(o.label for o in options)
            self.invalid(f, "choice", value=_quote(" ; ".join(choice.unknown)), options=printed)
        return choice.keys

    def _multichoice(self, f, lines):
        return self._chosen(f, lines, f.options)

    def _choice(self, f, lines):
        keys = self._chosen(f, lines, f.options)
        if len(keys) > 1:
            labels = {o.key: o.label for o in self.rules.options[f.options]}
            self.invalid(f, "choice_many", value=", ".join(labels[k] for k in keys))
            return None
        return keys[0] if keys else None

    def _yesno(self, f, lines):
        keys = self._chosen(f, lines, "yesno")
        if len(keys) > 1:
            self.invalid(f, "yesno_both")
            return None
        return {"oui": True, "non": False}.get(keys[0]) if keys else None

    def _objectives(self, f, lines):
        if has_marks(lines):
            lines = [s.text for line in lines for s in segments(line) if s.marked]
        text = clean_spaces("\n".join(lines))
        codes = list(dict.fromkeys(_OBJECTIVE.findall(text)))
        if text and not codes:
            self.invalid(f, "objectives_none", value=_quote(text))
        for code in codes:
            if code not in self.rules.objective_codes:
                self.invalid(f, "objectives_unknown", value=code)
        return [c for c in codes if c in self.rules.objective_codes]

    def _repartition(self, f, lines):
        entries = list(self.raw.repartition)
        for line in lines:
            if m := _YEAR_LINE.match(line.strip()):
                if m[2].strip():
                    entries.append((m[1], m[2]))
        result: dict[str, Decimal] = {}
        for year, text in entries:
            if year in result:
                continue
            try:
                result[year] = values.parse_amount(text)
            except ValueError:
                self.invalid(f, "repartition", value=_quote(f"{year} : {text}"))
        return dict(sorted(result.items())) or None

    def _materiel(self, f, lines):
        wording = self.rules.check("valeur_invalide").messages
        out = []
        for row in self.raw.materiel:
            designation = clean_spaces(row.get("designation", "")).replace("\n", " ")
            problems = []
            quantity_text = clean_spaces(row.get("quantite", ""))
            quantity: int | None = 1  # an empty quantity is one item
            if quantity_text:
                try:
                    quantity = values.parse_positive_int(quantity_text)
                except ValueError:
                    quantity = None
                    problems.append(wording["materiel_quantity"].format(text=_quote(quantity_text, 30)))
            price_text = clean_spaces(row.get("prix_unitaire_ht", ""))
            price = None
            if not price_text:
                problems.append(wording["materiel_price_missing"])
            else:
                try:
                    price = values.parse_amount(price_text)
                except ValueError:
                    problems.append(wording["materiel_price"].format(text=_quote(price_text, 30)))
                else:
                    if values.is_tax_included(price_text):
                        price = self._excluding_tax(designation, price)
            if not designation:
                problems.append(wording["materiel_designation_missing"])
            if problems:
                self.invalid(f, "materiel", value=_quote(designation or "?", 50), problem=" ; ".join(problems))
            out.append({"designation": designation or None, "quantite": quantity, "prix_unitaire_ht": price})
        return out


    def _excluding_tax(self, designation: str, price: Decimal) -> Decimal:
        """A price written TTC in the HT column: the cap is HT, so convert it, and say so."""
        rate = Decimal(self.rules.thresholds["vat_rate"])
        excluding = (price / (1 + rate)).quantize(values.CENT)
        self.findings.append(finding(
            self.rules, "prix_ttc_converti", "materiel", designation=_quote(designation or "?", 50),
            ttc=values.format_amount(price) + "\u00a0TTC", ht=values.format_amount(excluding),
            rate=values.format_percent(rate),
        ))
        return excluding


def interpret(raw: RawForm, rules: Rules) -> tuple[dict[str, Any], list[Finding]]:
    """Typed field values (every key of rules present) and the findings on bad values."""
    interpreter = _Interpreter(raw, rules)
    fields = {f.key: interpreter.value(f) for f in rules.fields}
    return fields, interpreter.findings
