"""The blank fiche projet, generated from rules/ (never a hand-edited binary).

Two-column tables (label │ value) per section, clickable check boxes (Word
content controls that also read as ☐ / ☒ in any other editor), the materiel and
repartition tables, short guidance in French and the taxonomy as an appendix.
"""

from __future__ import annotations

import io

from docx import Document
from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from bot.form.docsetup import add_footer, add_logos, french_a4, french_spacing
from bot.form.layout import UNCHECKED
from bot.form.values import format_amount
from bot.paths import rules_dir
from bot.rules import Field, Rules

W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
LABEL_SHADING = "DCE6F2"
HINT_COLOR = RGBColor(0x59, 0x59, 0x59)
BOX_FONT = "MS Gothic"
MATERIEL_ROWS = 5
ROW_HEIGHT = Cm(0.9)  # room to type
# Taller value cells for the fields porteurs write most in.
TALL_ROWS = {"description": Cm(6), "public_vise": Cm(1.5), "etablissements": Cm(1.5), "partenaires": Cm(1.5)}


def _w14(name: str) -> str:
    return "{%s}%s" % (W14, name)


def add_checkbox(paragraph, checked: bool = False) -> None:
    """A Word 2010 check-box content control (w14:checkbox) showing ☐ or ☒."""
    sdt = OxmlElement("w:sdt")
    props = OxmlElement("w:sdtPr")
    box = props.makeelement(_w14("checkbox"), {})
    box.append(box.makeelement(_w14("checked"), {_w14("val"): "1" if checked else "0"}))
    box.append(box.makeelement(_w14("checkedState"), {_w14("val"): "2612", _w14("font"): BOX_FONT}))
    box.append(box.makeelement(_w14("uncheckedState"), {_w14("val"): "2610", _w14("font"): BOX_FONT}))
    props.append(box)
    content = OxmlElement("w:sdtContent")
    run = OxmlElement("w:r")
    run_props = OxmlElement("w:rPr")
    fonts = OxmlElement("w:rFonts")
    for attr in ("w:ascii", "w:eastAsia", "w:hAnsi"):
        fonts.set(qn(attr), BOX_FONT)
    run_props.append(fonts)
    run.append(run_props)
    text = OxmlElement("w:t")
    text.text = "☒" if checked else UNCHECKED
    run.append(text)
    content.append(run)
    sdt.append(props)
    sdt.append(content)
    paragraph._p.append(sdt)


def _shade(cell, color: str) -> None:
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), color)
    cell._tc.get_or_add_tcPr().append(shading)


def _label_cell(cell, label: str, hint: str = "") -> None:
    _shade(cell, LABEL_SHADING)
    cell.paragraphs[0].add_run(label).bold = True
    if hint:
        run = cell.add_paragraph().add_run(hint)
        run.italic = True
        run.font.size = Pt(8.5)
        run.font.color.rgb = HINT_COLOR


def _options_cell(cell, labels: list[str], inline: bool) -> None:
    paragraph = cell.paragraphs[0]
    for i, label in enumerate(labels):
        if i and not inline:
            paragraph = cell.add_paragraph()
        add_checkbox(paragraph)
        paragraph.add_run(f" {label}" + ("    " if inline else ""))


def _table(doc, columns: int, widths: list[float]):
    table = doc.add_table(rows=0, cols=columns)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths):
        column.width = Cm(width)
    return table, widths


def _row(table, widths, height=ROW_HEIGHT):
    row = table.add_row()
    row.height = height
    row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))  # a row never breaks across pages
    for cell, width in zip(row.cells, widths):
        cell.width = Cm(width)
    return row


def _field_row(table, widths, f: Field, rules: Rules) -> None:
    row = _row(table, widths, TALL_ROWS.get(f.key, ROW_HEIGHT))
    label = f"{f.label} *" if f.required else f.label
    _label_cell(row.cells[0], label, f.hint)
    if f.type in ("choice", "multichoice"):
        _options_cell(row.cells[1], [o.label for o in rules.options[f.options]], inline=False)
    elif f.type == "yesno":
        _options_cell(row.cells[1], [o.label for o in rules.options["yesno"]], inline=True)


def _bullets(doc, items: list[str]) -> None:
    for item in items:
        doc.add_paragraph(item, style="List Bullet")


def _guidance(rules: Rules) -> list[str]:
    send = [
        f"{s['who']} : envoyez la fiche à {' ou '.join(s['addresses'])}." for s in rules.send_to
    ]
    return [
        "Complétez cette fiche dans Word (ou LibreOffice) et envoyez-la en pièce jointe, au format "
        "Word .docx, sans mot de passe. Les PDF, photos et scans ne peuvent pas être traités.",
        "Une fiche par projet. Les champs marqués d'un astérisque (*) sont obligatoires.",
        "Pour répondre à une liste, cochez la ou les cases (☒) ou supprimez les choix qui ne vous "
        "concernent pas.",
        *send,
        "Vous recevrez par courriel un numéro de dossier et, si besoin, la liste précise de ce qu'il faut "
        "compléter : renvoyez alors la fiche corrigée en répondant à ce message.",
    ]


# Fields answered in their own table below the section's table, never in an
# answer cell of it (a cell there would invite typing « 2026 : 1 000 € »).
OWN_TABLE_TYPES = ("repartition", "materiel")


def _keep_headings_with_what_follows(doc) -> None:
    for name in ("Heading 1", "Heading 2", "Heading 3", "Title", "Subtitle"):
        doc.styles[name].paragraph_format.keep_with_next = True


def _keep_table_together(table) -> None:
    """Every row but the last keeps with the next: a short table never breaks from its heading."""
    for row in table.rows[:-1]:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.keep_with_next = True


def build_template(rules: Rules, now=None) -> bytes:
    doc = Document()
    call = rules.call
    french_a4(doc, title=f"{call['document']} — {call['title']}", subject=call["title"], author=call["title"],
              now=now)
    normal = doc.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10.5)
    _keep_headings_with_what_follows(doc)
    add_logos(doc, [rules_dir() / name for name in call.get("logos", [])])
    add_footer(doc, f"{call['title']} — {call['year']} — {call['document']}")

    doc.add_paragraph(rules.call["title"], style="Title")
    doc.add_paragraph(rules.call["document"], style="Subtitle")
    doc.add_heading("Avant de commencer", level=1)
    _bullets(doc, _guidance(rules))

    widths = [6.0, 11.0]
    for section_key, section_label in rules.sections.items():
        doc.add_heading(section_label, level=1)
        table, _ = _table(doc, 2, widths)
        for f in rules.fields:
            if f.section == section_key and f.type not in OWN_TABLE_TYPES:
                _field_row(table, widths, f, rules)
        if section_key == "budget":
            _budget_tables(doc, rules)
        if section_key == "engagements":
            _engagements_guidance(doc, rules)

    _appendix(doc, rules)
    french_spacing(doc)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _budget_tables(doc, rules: Rules) -> None:
    cap = format_amount(rules.materiel_max_unit_price, cents=False)
    repartition = rules.field("repartition")
    doc.add_heading(repartition.label, level=2)
    _hint(doc, repartition.hint)
    table, widths = _table(doc, 2, [6.0, 11.0])
    header = _row(table, widths)
    for cell, text in zip(header.cells, ("Année", "Montant sollicité pour l'année (€)")):
        _shade(cell, LABEL_SHADING)
        cell.paragraphs[0].add_run(text).bold = True
    for year in rules.call["civil_years"]:
        _row(table, widths).cells[0].text = str(year)
    _keep_table_together(table)

    materiel = rules.field("materiel")
    doc.add_heading(materiel.label, level=2)
    _hint(doc, f"{materiel.hint}. Chaque équipement doit coûter au plus {cap} HT par unité : un équipement "
               "plus cher ne peut pas être financé par la Cité éducative.")
    table, widths = _table(doc, 3, [9.0, 3.0, 5.0])
    header = _row(table, widths)
    columns = rules.materiel_columns
    for cell, column in zip(header.cells, ("designation", "quantite", "prix_unitaire_ht")):
        _shade(cell, LABEL_SHADING)
        cell.paragraphs[0].add_run(columns[column][0]).bold = True
    for _ in range(MATERIEL_ROWS):
        _row(table, widths)
    _keep_table_together(table)


def _hint(doc, text: str) -> None:
    paragraph = doc.add_paragraph()
    paragraph.paragraph_format.keep_with_next = True
    run = paragraph.add_run(text)
    run.italic = True
    run.font.size = Pt(9)
    run.font.color.rgb = HINT_COLOR


def _engagements_guidance(doc, rules: Rules) -> None:
    doc.add_paragraph()
    doc.add_paragraph().add_run("Vos obligations").bold = True
    _bullets(doc, [
        f"Communication : faites figurer sur tous vos supports (affiches, invitations, publications, "
        f"réseaux sociaux) {rules.communication['logos']}, et la mention suivante :",
    ])
    quote = doc.add_paragraph(f"« {rules.communication['mention']} »", style="Quote")
    quote.paragraph_format.left_indent = Cm(1)
    _bullets(doc, [
        "Droit à l'image : si des photos ou vidéos de mineurs sont prévues, recueillez avant toute prise "
        "de vue l'autorisation écrite des représentants légaux de chaque enfant (formulaire fourni par la "
        "Cité éducative).",
        "Bilans : un bilan financier et qualitatif de l'action sera demandé pour chaque année civile financée.",
    ])


def _appendix(doc, rules: Rules) -> None:
    doc.add_page_break()
    doc.add_heading("Annexe 1 — Objectifs stratégiques", level=1)
    doc.add_paragraph("Indiquez dans la fiche les codes des objectifs visés par votre projet.")
    for theme in rules.taxonomy:
        doc.add_heading(f"Thématique {theme.code} — {theme.title}", level=2)
        for axis in theme.axes:
            doc.add_heading(f"{axis.code} {axis.title}", level=3)
            for objective in axis.objectives:
                doc.add_paragraph(f"{objective.code} — {objective.title}", style="List Bullet")
    doc.add_heading("Annexe 2 — Les parcours", level=1)
    labels = {o.key: o.label for o in rules.options["parcours"]}
    for key, info in rules.parcours.items():
        paragraph = doc.add_paragraph(style="List Bullet")
        paragraph.add_run(labels[key]).bold = True
        text = f" — {info['description']}"
        if info.get("orientations"):
            text += f" Orientations : {info['orientations']}."
        paragraph.add_run(text)
