"""Findings: what a rule or the reader has to say about a form, in French."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bot.rules import Rules


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" blocks the dossier; "warning" does not
    field: str | None
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def finding(rules: Rules, code: str, field: str | None, variant: str | None = None, **params) -> Finding:
    """Build a finding from its code, with severity and wording taken from rules/checks.toml."""
    rule = rules.check(code)
    template = rule.messages[variant] if variant else rule.message
    return Finding(code, rule.severity, field, template.format(**params))


def file_finding(rules: Rules, code: str, variant: str | None = None) -> Finding:
    """A finding about the file itself (unreadable, not a fiche projet)."""
    entry = rules.file_findings[code]
    message = entry["messages"][variant] if variant else entry["message"]
    return Finding(code, entry["severity"], None, message)
