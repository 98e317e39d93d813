"""Read and validate one document: bytes in, a CheckResult out. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.form.docxfile import Unreadable, open_docx
from bot.form.findings import Finding, file_finding
from bot.form.interpret import interpret
from bot.form.layout import document_blocks
from bot.form.reader import read_blocks
from bot.form.validate import validate
from bot.rules import Rules, load_rules

FICHE = "fiche_projet"
UNKNOWN = "inconnu"
UNREADABLE = "illisible"


@dataclass(frozen=True)
class CheckResult:
    kind: str  # fiche_projet | inconnu | illisible
    fields: dict[str, Any]
    findings: list[Finding]

    @property
    def valid(self) -> bool:
        return self.kind == FICHE and not any(f.severity == "error" for f in self.findings)


def empty_fields(rules: Rules) -> dict[str, Any]:
    lists = {"multichoice", "objectives", "materiel"}
    return {f.key: ([] if f.type in lists else None) for f in rules.fields}


def check_bytes(data: bytes, rules: Rules | None = None) -> CheckResult:
    rules = rules or load_rules()
    try:
        parts = open_docx(data)
    except Unreadable as exc:
        return CheckResult(UNREADABLE, empty_fields(rules), [file_finding(rules, "fichier_illisible", exc.reason)])
    raw = read_blocks(document_blocks(parts.document), rules)
    if len(raw.labels_found) < rules.thresholds["min_labels_for_fiche"]:
        return CheckResult(UNKNOWN, empty_fields(rules), [file_finding(rules, "fiche_non_reconnue")])
    fields, reading_findings = interpret(raw, rules)
    return CheckResult(FICHE, fields, validate(fields, rules, reading_findings))
