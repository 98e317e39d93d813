"""The reader on documents written by real software (issue 13, (a)–(f)).

(a) a lone unchecked box before a sentence that starts with « Oui »; (b) boxes
ticked by overtyping ☐ with ☒ in LibreOffice (its own output, shipped as a
fixture and rebuilt when soffice is installed); (c) labels written as headings;
(d) a unit price written TTC in the HT column; (e) .odt and .rtf files;
(f) a small .docx whose main part is 25 MB of XML, within 200 MB of memory.
"""

import io
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from docx_factory import docx, label_table, lines, p, r, tbl, tc, tr, w14_box
from sample_fiche import FIELDS, MATERIEL_ROWS, PAIRS, REPARTITION_ROWS, fiche

from bot.form.fill import fill_fiche
from bot.form.samples import COMPLETE
from bot.form.template import build_template

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
OVERTYPED = FIXTURES / "libreoffice-overtyped.docx"
SYSTEM_PYTHON = "/usr/bin/python3"  # LibreOffice's uno module lives in the system Python

# What the porteur ticks in LibreOffice, and the six fields it answers.
TICKS = ["Association", "Citoyen", "Artistique et culturel", "Niveau 1", "Périscolaire", "Oui"]
BOX_FIELDS = ["type_porteur", "parcours", "secteurs", "temps", "photos_mineurs", "engagement_communication"]
TICKED = {"type_porteur": "association", "parcours": ["citoyen", "artistique_culturel"], "secteurs": ["curie"],
          "temps": ["periscolaire"], "photos_mineurs": True, "engagement_communication": True}


def _budget() -> str:
    return tbl(*(tr(*row) for row in REPARTITION_ROWS)) + tbl(*(tr(*row) for row in MATERIEL_ROWS))


# -- (a) a lone unchecked box before « Oui, … » -----------------------------

@pytest.mark.parametrize("sentence", [
    "Oui, nous ferons figurer les logos et la mention sur tous nos supports",
    "Oui, je m'engage à respecter les obligations de communication",
])
def test_a_lone_unchecked_box_before_a_sentence_starting_with_oui_is_not_a_yes(read, sentence):
    pairs = [(label, value) for label, value in PAIRS if label != "Engagement communication"]
    cell = f"☐ {sentence}"
    result = read(docx(label_table(pairs + [("Engagement communication", cell)]) + _budget()))
    assert result["fields"]["engagement_communication"] is None
    assert "engagement_communication" in {f["field"] for f in result["findings"] if f["severity"] == "error"}
    assert result["valid"] is False


def test_the_same_box_as_a_word_content_control_is_not_a_yes_either(read):
    rows = [tr(label, value) for label, value in PAIRS if label != "Engagement communication"]
    rows.append(tr(tc(p("Engagement communication")),
                   tc(p(w14_box(False), r(" Oui, nous ferons figurer les logos de nos partenaires")))))
    result = read(docx(tbl(*rows) + _budget()))
    assert result["kind"] == "fiche_projet"
    assert result["fields"]["engagement_communication"] is None


def test_a_lone_ticked_box_before_the_sentence_is_a_yes(read):
    pairs = [(label, value) for label, value in PAIRS if label != "Engagement communication"]
    cell = "☒ Oui, nous ferons figurer les logos et la mention sur tous nos supports"
    result = read(docx(label_table(pairs + [("Engagement communication", cell)]) + _budget()))
    assert result["fields"]["engagement_communication"] is True


def test_a_lone_unchecked_oui_left_after_deleting_non_still_reads_as_the_kept_option(read):
    # The porteur deleted « ☐ Non »: the short option left is the answer (unchanged).
    result = read(fiche({"Photos ou vidéos de mineurs prévues": "☐ Oui"}))
    assert result["fields"]["photos_mineurs"] is True


# -- (b) LibreOffice overtyping ☐ with ☒ --------------------------------------

def _unticked_fiche(rules) -> bytes:
    answers = {k: v for k, v in COMPLETE.items() if k not in BOX_FIELDS}
    return fill_fiche(build_template(rules), answers, rules)


def _has_libreoffice() -> bool:
    if not shutil.which("soffice") or not Path(SYSTEM_PYTHON).exists():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True).returncode == 0


def overtype_with_libreoffice(source: Path, target: Path) -> int:
    run = subprocess.run(
        [SYSTEM_PYTHON, str(Path(__file__).parent / "libreoffice.py"), "overtype", str(source), str(target), *TICKS],
        capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split()[-1])


def _hidden_states(data: bytes) -> list[tuple[str, str]]:
    """(w14:checked, shown glyph) of every check-box control of the main part."""
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    return re.findall(r'<w14:checked w14:val="(\w+)"/>.*?<w:t[^>]*>([☐☒])</w:t>', xml)


def _assert_read_as_ticked(read, data: bytes) -> None:
    result = read(data)
    assert result["kind"] == "fiche_projet"
    assert {k: result["fields"][k] for k in BOX_FIELDS} == TICKED
    assert result["valid"] is True, result["findings"]


def test_the_libreoffice_fixture_keeps_the_hidden_unchecked_state_under_a_visible_tick():
    states = _hidden_states(OVERTYPED.read_bytes())
    assert ("0", "☒") in states  # the very defect: checked="0" while ☒ shows
    assert not [s for s in states if s == ("1", "☒")]


def test_boxes_overtyped_in_libreoffice_read_as_ticked(read):
    _assert_read_as_ticked(read, OVERTYPED.read_bytes())


@pytest.mark.skipif(not _has_libreoffice(), reason="LibreOffice (soffice and python3-uno) is not installed")
def test_overtyping_in_a_real_libreoffice_today_reads_as_ticked(read, rules, tmp_path):
    source, target = tmp_path / "fiche.docx", tmp_path / "fiche-cochee.docx"
    source.write_bytes(_unticked_fiche(rules))
    assert overtype_with_libreoffice(source, target) == 7  # two parcours, one box per other field, Oui twice
    produced = target.read_bytes()
    assert ("0", "☒") in _hidden_states(produced)
    _assert_read_as_ticked(read, produced)


# -- (c) labels as headings ------------------------------------------------------

@pytest.mark.parametrize("style", ["Heading2", "Titre2", "Heading3"])
def test_labels_written_as_headings_with_values_in_the_paragraphs_below(read, style):
    body = "".join(p(label, style=style) + (lines(value) if value else "") for label, value in PAIRS)
    result = read(docx(p("Fiche projet", style="Heading1") + body + _budget()))
    assert result["fields"] == FIELDS


def test_a_heading_that_is_no_label_still_ends_the_value_above(read):
    body = "".join(p(label, style="Heading2") + (lines(value) if value else "") for label, value in PAIRS)
    body = body.replace(p("Partenaires", style="Heading2"),
                        p("Partenaires", style="Heading2") + p("Médiathèque") + p("Annexe", style="Heading1")
                        + p("Texte de l'annexe"))
    result = read(docx(body + _budget()))
    assert result["fields"]["partenaires"] == "Médiathèque"


# -- (d) TTC in the HT column ----------------------------------------------------

def test_a_unit_price_written_ttc_is_converted_to_ht_with_the_call_vat_rate_and_a_warning(read, rules):
    materiel = [MATERIEL_ROWS[0], ("Tablette", "1", "550 € TTC")]
    result = read(fiche(materiel=materiel))
    assert rules.thresholds["vat_rate"] == "0.20"
    assert result["fields"]["materiel"][0]["prix_unitaire_ht"] == "458.33"
    assert "materiel_plafond" not in [f["code"] for f in result["findings"]]
    warning = next(f for f in result["findings"] if f["code"] == "prix_ttc_converti")
    assert warning["severity"] == "warning" and result["valid"] is True
    assert "« Tablette »" in warning["message"]
    assert "550,00\u00a0€\u00a0TTC" in warning["message"] and "458,33\u00a0€ HT" in warning["message"]
    assert "20\u202f%" in warning["message"]


def test_a_ttc_price_still_over_the_cap_once_converted_is_refused(read):
    result = read(fiche(materiel=[MATERIEL_ROWS[0], ("Ordinateur", "1", "720,00 € TTC")]))
    plafond = [f for f in result["findings"] if f["code"] == "materiel_plafond"]
    assert len(plafond) == 1 and "600,00" in plafond[0]["message"]


def test_a_price_written_ht_gets_no_warning(read):
    result = read(fiche(materiel=[MATERIEL_ROWS[0], ("Tablette", "1", "450 € HT")]))
    assert "prix_ttc_converti" not in [f["code"] for f in result["findings"]]


# -- (e) .odt and .rtf -------------------------------------------------------------

def _odt() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", '<?xml version="1.0"?><office:document-content '
                   'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>', zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", "<manifest/>", zipfile.ZIP_DEFLATED)
    return out.getvalue()


RTF = b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Calibri;}}\\f0 Intitul\\'e9 du projet : Les petits reporters\\par}"


def _refusal(read, data: bytes) -> str:
    result = read(data)
    assert result["kind"] == "illisible"
    [f] = result["findings"]
    assert f["code"] == "fichier_illisible"
    return f["message"]


def test_an_odt_is_named_as_such_with_libreoffice_advice(read):
    message = _refusal(read, _odt())
    assert "OpenDocument (.odt)" in message and "endommagé" not in message
    assert "LibreOffice" in message and "Word 2007-365 (.docx)" in message


def test_an_rtf_is_named_as_such_with_advice_beyond_word(read):
    message = _refusal(read, RTF)
    assert "RTF" in message and "endommagé" not in message
    assert "LibreOffice" in message and "Word" in message


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice is not installed")
@pytest.mark.parametrize("extension, expected", [("odt", "OpenDocument (.odt)"), ("rtf", "RTF")])
def test_files_libreoffice_itself_writes_are_named(read, rules, tmp_path, extension, expected):
    source = tmp_path / "fiche.docx"
    source.write_bytes(build_template(rules))
    run = subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                          "--convert-to", extension, "--outdir", str(tmp_path), str(source)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert expected in _refusal(read, (tmp_path / f"fiche.{extension}").read_bytes())


def test_a_docx_that_is_really_damaged_still_says_so_with_both_editors(read):
    data = fiche()
    message = _refusal(read, data[: len(data) // 2])
    assert "endommagé" in message and "LibreOffice" in message


# -- (f) a 25 MB main part -----------------------------------------------------------

WORDS = "le projet les enfants atelier radio journal séance semaine collège école parents lecture".split()


def bloated_fiche(rules, megabytes: int = 25) -> bytes:
    """The complete sample fiche, with a description converted the way some tools
    write it: one run per word, each with its own fonts, colour, size, language."""
    rng = random.Random(13)
    rsids = ["%08X" % rng.getrandbits(32) for _ in range(64)]

    def run() -> str:
        rsid = rng.choice(rsids)
        return (f'<w:r w:rsidR="{rsid}" w:rsidRPr="{rsid}"><w:rPr><w:rFonts w:ascii="Calibri" w:hAnsi="Calibri" '
                'w:cs="Arial"/><w:color w:val="000000"/><w:sz w:val="21"/><w:szCs w:val="21"/>'
                f'<w:lang w:val="fr-FR"/></w:rPr><w:t xml:space="preserve">{rng.choice(WORDS)} </w:t></w:r>')

    paragraphs, size = [], 0
    while size < megabytes * 2**20:
        paragraph = f'<w:p w:rsidR="{rng.choice(rsids)}">' + "".join(run() for _ in range(20)) + "</w:p>"
        paragraphs.append(paragraph)
        size += len(paragraph)
    source = zipfile.ZipFile(io.BytesIO(fill_fiche(build_template(rules), COMPLETE, rules)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "word/document.xml":
                xml = content.decode()
                at = xml.rindex("<w:sectPr")
                content = (xml[:at] + "".join(paragraphs) + xml[at:]).encode()
            package.writestr(info.filename, content, compresslevel=9)
    return out.getvalue()


MEASURE = (
    "import re, resource, sys\n"
    "from bot.form.check import check_bytes\n"
    "r = check_bytes(open(sys.argv[1], 'rb').read())\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
    "try:\n"
    "    peak = int(re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "print(r.kind, r.valid, peak)\n"
)


def test_a_small_docx_with_a_25_mb_main_part_is_read_in_less_than_200_mb(rules, tmp_path):
    data = bloated_fiche(rules)
    main = zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml").file_size
    assert len(data) < 1024 * 1024 and main > 25 * 2**20, (len(data), main)
    path = tmp_path / "fiche-lourde.docx"
    path.write_bytes(data)
    run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    kind, valid, peak = run.stdout.split()
    assert (kind, valid) == ("fiche_projet", "True")
    assert int(peak) < 200 * 2**20, f"peak RSS {int(peak) // 2**20} MiB"
