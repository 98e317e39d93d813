"""The call's policy, loaded from the TOML files of `rules/`.

Everything a new call may change (labels, options, taxonomy, thresholds,
messages) is data; this module only gives it a typed shape.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

from bot.paths import rules_dir
from bot.text import normalize


@dataclass(frozen=True)
class Field:
    key: str
    section: str
    label: str
    also: tuple[str, ...]
    type: str
    required: bool
    hint: str = ""
    options: str | None = None
    date_bound: str | None = None
    sentence: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.also)


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Objective:
    code: str
    title: str


@dataclass(frozen=True)
class Axis:
    code: str
    title: str
    objectives: tuple[Objective, ...]


@dataclass(frozen=True)
class Theme:
    code: str
    title: str
    axes: tuple[Axis, ...]


@dataclass(frozen=True)
class CheckRule:
    code: str
    severity: str
    message: str = ""
    messages: dict[str, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Rules:
    fields: tuple[Field, ...]
    sections: dict[str, str]
    options: dict[str, tuple[Option, ...]]
    materiel_columns: dict[str, tuple[str, ...]]
    placeholders: tuple[str, ...]
    taxonomy: tuple[Theme, ...]
    parcours: dict[str, dict[str, str]]
    call: dict
    thresholds: dict
    communication: dict[str, str]
    send_to: tuple[dict, ...]
    checks: tuple[CheckRule, ...]
    file_findings: dict[str, dict]
    # Derived lookups, built once by load_rules().
    label_index: dict[str, str]  # normalized label -> field key
    by_key: dict[str, Field]
    objective_codes: frozenset[str]

    def field(self, key: str) -> Field:
        return self.by_key[key]

    @property
    def materiel_max_unit_price(self) -> Decimal:
        return Decimal(self.thresholds["materiel_max_unit_price_ht"])

    def check(self, code: str) -> CheckRule:
        return next(r for r in self.checks if r.code == code)


def _read(folder: Path, name: str) -> dict:
    with open(folder / name, "rb") as f:
        return tomllib.load(f)


def _options(data: dict) -> dict[str, tuple[Option, ...]]:
    return {
        name: tuple(Option(key, words[0], tuple(words)) for key, words in table.items())
        for name, table in data.items()
    }


def _taxonomy(data: dict) -> tuple[Theme, ...]:
    return tuple(
        Theme(
            t["code"],
            t["titre"],
            tuple(
                Axis(a["code"], a["titre"], tuple(Objective(o["code"], o["titre"]) for o in a["objectif"]))
                for a in t["axe"]
            ),
        )
        for t in data["thematique"]
    )


@cache
def load_rules(folder: Path | None = None) -> Rules:
    folder = Path(folder) if folder else rules_dir()
    fields_data = _read(folder, "fields.toml")
    call = _read(folder, "call.toml")
    checks = _read(folder, "checks.toml")
    fields = tuple(
        Field(
            key=f["key"],
            section=f["section"],
            label=f["label"],
            also=tuple(f.get("also", ())),
            type=f["type"],
            required=f["required"],
            hint=f.get("hint", ""),
            options=f.get("options"),
            date_bound=f.get("date_bound"),
            sentence=f.get("sentence"),
        )
        for f in fields_data["field"]
    )
    label_index: dict[str, str] = {}
    for f in fields:
        for label in f.labels:
            label_index.setdefault(normalize(label), f.key)
    taxonomy = _taxonomy(_read(folder, "taxonomy.toml"))
    return Rules(
        fields=fields,
        sections=fields_data["sections"],
        options=_options(_read(folder, "options.toml")),
        materiel_columns={k: tuple(v) for k, v in fields_data["materiel_columns"].items()},
        placeholders=tuple(fields_data["placeholders"]["texts"]),
        taxonomy=taxonomy,
        parcours=_read(folder, "parcours.toml"),
        call=call["call"],
        thresholds=call["thresholds"],
        communication=call["communication"],
        send_to=tuple(call["send_to"]),
        checks=tuple(
            CheckRule(r["code"], r["severity"], r.get("message", ""), r.get("messages", {}), r.get("params", {}))
            for r in checks["rule"]
        ),
        file_findings=checks["file_findings"],
        label_index=label_index,
        by_key={f.key: f for f in fields},
        objective_codes=frozenset(o.code for t in taxonomy for a in t.axes for o in a.objectives),
    )
