"""The image-consent form for minors (rules/consent.toml), as a .docx: the call's
official model on an A4 page, with rows tall enough to write by hand and the
project's intitulé, structure and reference prefilled for each dossier."""

from __future__ import annotations

import io
import tomllib
from functools import cache, lru_cache

from docx import Document
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.oxml import OxmlElement
from docx.shared import Cm, Pt

from bot.form.docsetup import add_footer, add_logos, french_a4, french_spacing
from bot.paths import rules_dir
from bot.rules import load_rules

ROW_HEIGHT = Cm(1.0)  # a line of handwriting, with room
TALL_ROW_HEIGHT = Cm(2.5)  # a signature
LABEL_WIDTH, VALUE_WIDTH = Cm(6.5), Cm(10.5)


@cache
def consent_data() -> dict:
    with open(rules_dir() / "consent.toml", "rb") as f:
        return tomllib.load(f)


def official_paragraphs() -> list[str]:
    """The paragraphs that reproduce the call's model, in order."""
    return [part["text"] for part in consent_data()["body"] if part.get("official")]


def _rows(doc, labels: list[str], values: dict[str, str], tall: tuple[str, ...] = ()) -> None:
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    table.autofit = False
    table.columns[0].width, table.columns[1].width = LABEL_WIDTH, VALUE_WIDTH
    for label in labels:
        row = table.add_row()
        row.height = TALL_ROW_HEIGHT if label in tall else ROW_HEIGHT
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        row.cells[0].width, row.cells[1].width = LABEL_WIDTH, VALUE_WIDTH
        row.cells[0].paragraphs[0].add_run(label).bold = True
        row.cells[1].text = values.get(label, "")
    doc.add_paragraph().paragraph_format.space_after = Pt(0)


@lru_cache(maxsize=16)  # the daemon builds one per dossier with photos: a few in memory, not all
def build_consent_form(intitule: str = "", structure: str = "", reference: str = "") -> tuple[str, bytes]:
    """(file name, .docx bytes) for one dossier; with no argument, the blank form."""
    data, call = consent_data(), load_rules().call
    doc = Document()
    french_a4(doc, title=data["title"], subject=f"{call['title']} — droit à l'image", author=call["title"],
              margins_cm=(2.0, 1.5))
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(10.5)
    add_logos(doc, [rules_dir() / name for name in call.get("logos", [])])
    add_footer(doc, f"{call['organisation']} — {call['year']} — Autorisation de droit à l'image")
    doc.add_paragraph(data["title"], style="Title").runs[0].font.size = Pt(16)
    doc.add_paragraph(data["subtitle"], style="Subtitle")
    doc.add_paragraph(data["intro"]).runs[0].italic = True
    doc.add_heading(data["project_heading"], level=2)
    known = dict(zip(data["project_fields"], (intitule, structure, reference)))
    _rows(doc, data["project_fields"], known)
    for part in data["body"]:
        if "fields" in part:
            _rows(doc, part["fields"], {}, tuple(part.get("tall", ())))
            continue
        paragraph = doc.add_paragraph(part["text"])
        paragraph.paragraph_format.space_after = Pt(5)
        if part.get("note"):
            paragraph.runs[0].font.size = Pt(8)
    french_spacing(doc)
    out = io.BytesIO()
    doc.save(out)
    return data["filename"], out.getvalue()
