"""The documents citebot writes: the image-consent form is the call's official
model, prefilled for the dossier; the blank fiche is an A4 French document with
real metadata and a footer. Both read back from their XML."""

import io
import re
import unicodedata
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import docx
import pytest
from lxml import etree

from bot.form.consent import build_consent_form, consent_data, official_paragraphs
from bot.form.template import build_template
from bot.rules import load_rules

CALL = Path(__file__).resolve().parents[2].parent / "shared" / "call" / "appel-a-projets-lievin.txt"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# What the extraction of the call broke (../shared/call/README.md), and what rules/consent.toml restores.
OCR = {"réaliséesle": "réalisées le", " 4 la loi": " à la loi", "Libert¢": "Libertés", "1’ Agence": "l’Agence"}
RESTORED = "des territoires"  # the end of the last sentence, cut by the extraction


def loose(text: str) -> str:
    """Accents, case, apostrophes, punctuation, blanks to fill and line breaks do not count."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"\.(?=\s|$)", " ", text)  # full stops, not the dots of an address
    return " ".join(re.sub(r"[^0-9a-z@.']+", " ", text).split())


@pytest.fixture(scope="module")
def official_form() -> str:
    if not CALL.exists():
        pytest.fail(f"{CALL} is missing: the consent form is compared with the call's own text")
    text = CALL.read_text(encoding="utf-8")
    start = text.index("AUTORISATION DE CAPTATION ET D'UTILISATION DE L'IMAGE D'UNE PERSONNE MINEURE")
    end = text.index("Agence nationale de la cohésion", start) + len("Agence nationale de la cohésion")
    form = text[start:end]
    for broken, fixed in OCR.items():
        form = form.replace(broken, fixed)
    return loose(form)


def xml(data: bytes, part: str) -> etree._Element:
    return etree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read(part))


# -- the consent form ---------------------------------------------------------------

def test_every_official_paragraph_is_the_calls_text_word_for_word(official_form):
    paragraphs = official_paragraphs()
    assert len(paragraphs) >= 7
    ours = loose(consent_data()["title"] + " " + " ".join(paragraphs))
    assert ours == official_form + " " + RESTORED


@pytest.mark.parametrize("needle", [
    "le responsable de la communication de la Cité Educative Apprenante de Liévin ainsi que la coordination "
    "nationale des Cités éducatives",
    "hors affichage, sur une durée de 5 ans", "citeseducatives@anct.gouv.fr", "lievin@lievin.fr",
    "règlement général sur la protection des données (RGPD)", "loi Informatique et Libertés 78-17",
])
def test_the_form_says_what_the_official_model_says(needle):
    _, data = build_consent_form()
    text = " ".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    assert needle.replace(" :", "\u00a0:") in text or needle in text


def test_the_old_wording_that_contradicted_the_model_is_gone():
    _, data = build_consent_form()
    text = " ".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    for wrong in ("financeurs", "affiches", "auprès du porteur du projet. ", "retirée à tout moment"):
        assert wrong not in text


def test_the_form_is_prefilled_for_the_dossier_on_an_a4_page():
    _, data = build_consent_form("Les petits reporters", "Association Lire et Dire", "CE-2026-0007")
    document = docx.Document(io.BytesIO(data))
    rows = {row.cells[0].text: row.cells[1].text for table in document.tables for row in table.rows}
    assert rows["Intitulé du projet"] == "Les petits reporters"
    assert rows["Structure porteuse"] == "Association Lire et Dire"
    assert rows["Référence du dossier"] == "CE-2026-0007"
    assert rows["Nom et prénom du représentant légal"] == ""
    size = xml(data, "word/document.xml").find(f".//{W}sectPr/{W}pgSz")
    assert (size.get(f"{W}w"), size.get(f"{W}h")) == ("11906", "16838")


def test_a_dossier_s_values_are_written_as_text_whatever_they_hold():
    _, data = build_consent_form("Théâtre & <radio> : « ados »\x01", "L'Atelier \"Z\"", "CE-2026-0008")
    document = docx.Document(io.BytesIO(data))
    rows = {row.cells[0].text: row.cells[1].text for table in document.tables for row in table.rows}
    assert rows["Intitulé du projet"] == "Théâtre & <radio>\u00a0: «\u00a0ados\u00a0»"
    assert rows["Structure porteuse"] == "L'Atelier \"Z\""
    assert "\ue000" not in xml(data, "word/document.xml").xpath("string()")  # no marker left
    assert build_consent_form()[1] != data and "\ue000" not in docx.Document(io.BytesIO(build_consent_form()[1])).tables[0].rows[0].cells[1].text
    # Only the main part was rewritten: every other entry is the blank form's, with its metadata.
    copy, blank = (zipfile.ZipFile(io.BytesIO(d)) for d in (data, build_consent_form()[1]))
    assert copy.testzip() is None
    assert [(i.filename, i.date_time, i.create_system, i.external_attr) for i in copy.infolist()] == \
        [(i.filename, i.date_time, i.create_system, i.external_attr) for i in blank.infolist()]
    assert all(copy.read(name) == blank.read(name) for name in blank.namelist() if name != "word/document.xml")


def test_rows_to_fill_by_hand_are_tall_enough_to_write_in():
    _, data = build_consent_form()
    heights = {}
    for tr in xml(data, "word/document.xml").iter(f"{W}tr"):
        label = "".join(tr.find(f"{W}tc").itertext())
        height = tr.find(f"{W}trPr/{W}trHeight")
        heights[label] = int(height.get(f"{W}val"))
    assert min(heights.values()) >= 567  # twips: 1 cm, a line of handwriting
    assert heights["Signature du représentant légal"] >= 1134  # 2 cm


def test_the_acknowledgement_attaches_the_form_of_its_own_dossier():
    # bot/dossier/intake.py passes the dossier's intitulé, structure and reference.
    source = (Path(__file__).resolve().parents[2] / "bot" / "dossier" / "intake.py").read_text()
    assert 'build_consent_form(fields.get("intitule") or "", fields.get("structure") or "",' in source


# -- the blank fiche ----------------------------------------------------------------

@pytest.fixture(scope="module")
def template() -> bytes:
    return build_template(load_rules(), now=datetime(2026, 12, 1, 21, 5, tzinfo=timezone.utc))


def test_the_template_is_a4(template):
    for size in xml(template, "word/document.xml").iter(f"{W}pgSz"):
        assert (size.get(f"{W}w"), size.get(f"{W}h")) == ("11906", "16838")


def test_the_template_speaks_french_in_its_defaults_and_every_style(template):
    styles = xml(template, "word/styles.xml")
    default = styles.find(f"{W}docDefaults/{W}rPrDefault/{W}rPr/{W}lang")
    assert default.get(f"{W}val") == "fr-FR"
    languages = {lang.get(f"{W}val") for lang in styles.iter(f"{W}lang")}
    assert languages == {"fr-FR"}
    assert b"en-US" not in zipfile.ZipFile(io.BytesIO(template)).read("word/styles.xml")
    theme = xml(template, "word/settings.xml").find(f"{W}themeFontLang")
    assert theme.get(f"{W}val") == "fr-FR"


def test_the_template_metadata_is_the_calls_and_today(template):
    core = xml(template, "docProps/core.xml")
    values = {etree.QName(el).localname: (el.text or "") for el in core}
    rules = load_rules()
    assert values["title"] == f"Fiche projet — {rules.call['title']}"
    assert values["creator"] == rules.call["title"] and values["lastModifiedBy"] == rules.call["title"]
    assert values["created"].startswith("2026-12-01T21:05") and values["modified"].startswith("2026-12-01T21:05")
    assert values["language"] == "fr-FR"
    assert "python-docx" not in " ".join(values.values()) and "lastPrinted" not in values
    assert "2013" not in values["created"]


def test_the_template_footer_names_the_call_its_year_and_the_page_n_of_n(template):
    package = zipfile.ZipFile(io.BytesIO(template))
    footers = [name for name in package.namelist() if re.fullmatch(r"word/footer\d*\.xml", name)]
    assert footers
    footer = package.read(footers[0]).decode()
    text = "".join(xml(template, footers[0]).itertext())
    assert "Appel à projets de la Cité éducative de Liévin — 2026 — Fiche projet — page 1 / 1" in text
    assert 'w:instr=" PAGE "' in footer and 'w:instr=" NUMPAGES "' in footer


def test_headings_keep_with_what_follows(template):
    document = docx.Document(io.BytesIO(template))
    for name in ("Heading 1", "Heading 2"):
        assert document.styles[name].paragraph_format.keep_with_next is True
    headings = [p for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert "Répartition par année civile" in [p.text for p in headings]
    assert "Dépenses de matériel" in [p.text for p in headings]


def test_no_empty_answer_cell_only_points_to_a_table_below(template):
    document = docx.Document(io.BytesIO(template))
    labels = [row.cells[0].paragraphs[0].text.rstrip(" *") for t in document.tables for row in t.rows]
    assert "Répartition par année civile" not in labels and "Dépenses de matériel" not in labels
    assert "Coût total du projet" in labels


def test_the_template_without_a_date_given_is_stamped_now():
    data = build_template(load_rules())
    created = next(el.text for el in xml(data, "docProps/core.xml") if etree.QName(el).localname == "created")
    assert created[:4] == str(datetime.now(timezone.utc).year)
