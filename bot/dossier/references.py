"""Dossier references: CE-2026-0001 (prefix, year of receipt, 4-digit sequence)."""

from __future__ import annotations

import re


def format_reference(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year}-{seq:04d}"


def find_references(text: str, prefix: str) -> list[str]:
    """References quoted in a subject or body ("[CE-2026-0001]", "ce 2026 0001")."""
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(prefix)}[\s_-]?(\d{{4}})[\s_-]?(\d{{1,4}})(?!\d)", re.I)
    return list(dict.fromkeys(format_reference(prefix, int(y), int(n)) for y, n in pattern.findall(text or "")))
