"""Fill the blank template the way a porteur would, from code.

Used by the demo, the benchmark and the round-trip tests. Answers are what a
porteur types: text as written ("1 200 €", "01/09/2026"), option keys for the
check boxes, True/False for Oui/Non, {year: text} for the repartition and
[{designation, quantite, prix_unitaire_ht}] rows (text) for the materiel.
"""

from __future__ import annotations

import io
from typing import Any

from docx import Document
from docx.oxml.ns import qn

from bot.form.template import W14
from bot.rules import Rules
from bot.text import normalize


def _set_text(cell, text: str) -> None:
    lines = text.split("\n")
    paragraphs = cell.paragraphs
    for extra in paragraphs[1:]:
        extra._p.getparent().remove(extra._p)
    first = paragraphs[0]
    for run in list(first.runs):
        run._r.getparent().remove(run._r)
    first.add_run(lines[0])
    for line in lines[1:]:
        cell.add_paragraph(line)


def _tick(cell, chosen: set[str], option_keys: dict[str, str]) -> None:
    """Tick the content-control check boxes whose label names a chosen option."""
    for paragraph in cell.paragraphs:
        for sdt in paragraph._p.iterchildren(qn("w:sdt")):
            label_run = sdt.getnext()
            label = "".join(t.text or "" for t in label_run.iter(qn("w:t"))) if label_run is not None else ""
            if option_keys.get(normalize(label)) in chosen:
                sdt.find(f".//{{{W14}}}checked").set(f"{{{W14}}}val", "1")
                sdt.find(f"{qn('w:sdtContent')}//{qn('w:t')}").text = "☒"


def _chosen(value: Any) -> set[str]:
    if isinstance(value, bool):
        return {"oui" if value else "non"}
    if isinstance(value, str):
        return {value}
    return set(value)


def fill_fiche(template: bytes, answers: dict[str, Any], rules: Rules) -> bytes:
    doc = Document(io.BytesIO(template))
    materiel_header = normalize(rules.materiel_columns["designation"][0])
    for table in doc.tables:
        rows = table.rows
        if rows and normalize(rows[0].cells[0].text) == materiel_header:
            _fill_materiel(table, answers.get("materiel") or [])
            continue
        for row in rows:
            label_cell, value_cell = row.cells[0], row.cells[-1]
            first_line = label_cell.paragraphs[0].text
            key = rules.label_index.get(normalize(first_line))
            if key is None:
                year = label_cell.text.strip()
                if year in (answers.get("repartition") or {}):
                    _set_text(value_cell, answers["repartition"][year])
                continue
            if answers.get(key) in (None, "", []):
                continue
            f = rules.field(key)
            if f.type in ("choice", "multichoice", "yesno"):
                options = rules.options[f.options or "yesno"]
                option_keys = {normalize(o.label): o.key for o in options}
                _tick(value_cell, _chosen(answers[key]), option_keys)
            elif f.type not in ("repartition", "materiel"):
                _set_text(value_cell, str(answers[key]))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _fill_materiel(table, lines: list[dict[str, str]]) -> None:
    empty_rows = list(table.rows)[1:]
    for i, line in enumerate(lines):
        row = empty_rows[i] if i < len(empty_rows) else table.add_row()
        for cell, column in zip(row.cells, ("designation", "quantite", "prix_unitaire_ht")):
            _set_text(cell, str(line.get(column, "")))
