"""What makes a generated .docx a French administrative document: A4 page,
French language in the defaults and every style (Word's spelling checker speaks
French), real core properties, and a footer « <call> — <year> — page n / N »."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt

from bot import clock
from bot import text as typography

LANGUAGE = "fr-FR"
A4 = (Mm(210), Mm(297))


def _set_language(element) -> None:
    """The w:lang of an rPr: French for Latin text, keeping Word's other scripts as they are."""
    lang = element.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        element.append(lang)
    lang.set(qn("w:val"), LANGUAGE)
    lang.set(qn("w:eastAsia"), LANGUAGE)


def french_a4(doc, *, title: str, subject: str, author: str, margins_cm: tuple[float, float] = (2.0, 1.8),
              now: datetime | None = None) -> None:
    """Page, language and metadata of a document we write."""
    for section in doc.sections:
        section.page_width, section.page_height = A4
        section.left_margin = section.right_margin = Cm(margins_cm[0])
        section.top_margin = section.bottom_margin = Cm(margins_cm[1])
    styles = doc.styles.element
    defaults = styles.find(qn("w:docDefaults"))
    _set_language(defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")))
    for style in styles.iterfind(qn("w:style")):
        if style.get(qn("w:type")) in ("paragraph", "character", "table"):
            _set_language(style.get_or_add_rPr())
    settings = doc.settings.element
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:val"), LANGUAGE)
    # French separators for fields and formulas Word computes in this document.
    for tag, value in (("w:decimalSymbol", ","), ("w:listSeparator", ";")):
        element = settings.find(qn(tag))
        if element is not None:
            element.set(qn("w:val"), value)
    instant = (now or clock.now()).replace(microsecond=0, tzinfo=None)
    core = doc.core_properties
    core.title, core.subject, core.author, core.last_modified_by = title, subject, author, author
    core.language, core.keywords, core.comments = LANGUAGE, "", ""
    core.created = core.modified = instant
    printed = core._element.find(qn("cp:lastPrinted"))
    if printed is not None:  # python-docx's own template was printed in 2013
        core._element.remove(printed)
    core.revision = 1
    core.category = "Cité éducative"


def _field(paragraph, instruction: str) -> None:
    """A simple field (PAGE, NUMPAGES) Word and LibreOffice compute when they show the page."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), f" {instruction} ")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def add_footer(doc, text: str) -> None:
    """« <text> — page n / N » centred at the foot of every page."""
    for section in doc.sections:
        paragraph = section.footer.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.add_run(f"{text} — page ").font.size = Pt(8.5)
        _field(paragraph, "PAGE")
        paragraph.add_run(" / ").font.size = Pt(8.5)
        _field(paragraph, "NUMPAGES")


def add_logos(doc, paths: list[Path], height_cm: float = 1.6) -> None:
    """The logos named in rules/ (none shipped), side by side in the header of every page."""
    existing = [path for path in paths if path.is_file()]
    if not existing:
        return
    for section in doc.sections:
        paragraph = section.header.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        for path in existing:
            paragraph.add_run().add_picture(str(path), height=Cm(height_cm))
            paragraph.add_run("   ")


def french_spacing(doc) -> None:
    """French spaces before « : ; ! ? » and inside « » in every text of the body, footer and header."""
    parts = [doc.element.body] + [part._element for section in doc.sections
                                  for part in (section.header, section.footer)]
    for part in parts:
        for text in part.iter(qn("w:t")):
            if text.text:
                text.text = typography.spaces(text.text)
