"""The image-consent form for minors (rules/consent.toml), as a .docx."""

from __future__ import annotations

import io
import tomllib
from functools import cache

from docx import Document
from docx.shared import Cm, Pt

from bot.form.template import add_checkbox
from bot.paths import rules_dir


@cache
def consent_data() -> dict:
    with open(rules_dir() / "consent.toml", "rb") as f:
        return tomllib.load(f)


@cache
def build_consent_form(intitule: str = "", structure: str = "") -> tuple[str, bytes]:
    """(file name, .docx bytes); built once per process for the blank form the
    acknowledgements attach, the project's title and structure left to fill."""
    data = consent_data()
    doc = Document()
    doc.styles["Normal"].font.size = Pt(10.5)
    doc.add_paragraph(data["title"], style="Title")
    doc.add_paragraph(data["subtitle"], style="Subtitle")
    for text in data["intro"]:
        doc.add_paragraph(text)
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    known = {"Intitulé du projet": intitule, "Structure porteuse": structure}
    for label in data["fields"]:
        row = table.add_row()
        row.cells[0].width, row.cells[1].width = Cm(6), Cm(11)
        row.cells[0].paragraphs[0].add_run(label).bold = True
        row.cells[1].text = known.get(label, "")
    doc.add_paragraph()
    for text in data["choices"]:
        paragraph = doc.add_paragraph()
        add_checkbox(paragraph)
        paragraph.add_run(f" {text}")
    for text in data["terms"]:
        doc.add_paragraph(text)
    doc.add_paragraph()
    for label in data["signature"]:
        doc.add_paragraph(f"{label} : ………………………………………………")
    out = io.BytesIO()
    doc.save(out)
    return data["filename"], out.getvalue()
