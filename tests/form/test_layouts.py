"""The reader understands every layout of the spec (fiche-projet.md, "Layouts")."""

import pytest
from docx_factory import (
    cell, deleted, docx, ins, label_table, lines, p, r, sdt_block, sdt_inline, tbl, tc, tr,
)
from sample_fiche import FIELDS, MATERIEL_ROWS, PAIRS, REPARTITION_ROWS


def budget_tables() -> str:
    return tbl(*(tr(*row) for row in REPARTITION_ROWS)) + tbl(*(tr(*row) for row in MATERIEL_ROWS))


def test_the_template_layout_of_two_column_tables_reads_every_field(read):
    result = read(docx(label_table(PAIRS) + budget_tables()))
    assert result["kind"] == "fiche_projet"
    assert result["fields"] == FIELDS
    assert result["valid"] is True


def test_label_and_value_in_one_paragraph(read):
    body = "".join(p(f"{label} : {value}") for label, value in PAIRS if "\n" not in value)
    body += "".join(p(f"{label} :") + lines(value) for label, value in PAIRS if "\n" in value)
    result = read(docx(body + budget_tables()))
    assert result["fields"] == FIELDS


def test_label_and_value_in_one_cell(read):
    rows = [tr(tc(lines(f"{label} : {value}"))) for label, value in PAIRS]
    # A one-cell-per-row table is a frame: read like paragraphs.
    result = read(docx(tbl(*rows) + budget_tables()))
    assert result["fields"] == FIELDS


def test_label_and_value_in_one_cell_among_other_cells(read):
    rows = [tr(tc(lines(f"{label} : {value}")), cell("")) for label, value in PAIRS]
    result = read(docx(tbl(*rows) + budget_tables()))
    assert result["fields"] == FIELDS


def test_a_label_paragraph_followed_by_its_value_paragraphs(read):
    body = "".join(p(label) + lines(value) + p("") for label, value in PAIRS)
    result = read(docx(body + budget_tables()))
    assert result["fields"] == FIELDS


def test_values_inside_content_controls_in_cells(read):
    rows = [tr(cell(label), tc(p(sdt_inline(r(value))))) for label, value in PAIRS if "\n" not in value]
    rows += [tr(cell(label), cell(value)) for label, value in PAIRS if "\n" in value]
    result = read(docx(tbl(*rows) + budget_tables()))
    assert result["fields"] == FIELDS


def test_a_whole_value_cell_wrapped_in_a_content_control_does_not_shift_columns(read):
    rows = [tr(cell(label), sdt_block(cell(value))) for label, value in PAIRS]
    result = read(docx(tbl(*rows) + budget_tables()))
    assert result["fields"] == FIELDS


def test_block_content_controls_around_paragraphs_and_rows(read):
    body = sdt_block("".join(p(f"{label} : {value}") for label, value in PAIRS if "\n" not in value))
    body += tbl(*(sdt_block(tr(label, value)) for label, value in PAIRS if "\n" in value))
    result = read(docx(body + budget_tables()))
    assert result["fields"] == FIELDS


def test_word_placeholder_text_is_no_value(read, rules):
    shown = "Cliquez ou appuyez ici pour entrer du texte."
    pairs = [(label, value) for label, value in PAIRS if label != "Public visé"]
    body = label_table(pairs) + tbl(
        tr(cell("Public visé"), tc(p(sdt_inline(r(shown), placeholder=True)))),
        tr(cell("Partenaires"), cell(shown)),  # the same text typed without the flag
    )
    result = read(docx(body + budget_tables()))
    assert result["fields"]["public_vise"] is None
    assert result["fields"]["partenaires"] is None
    missing = [f["field"] for f in result["findings"] if f["code"] == "champ_manquant"]
    assert missing == ["public_vise"]


def test_rows_reordered_with_extra_rows_and_sections(read):
    shuffled = list(reversed(PAIRS))
    rows = [tr("Cadre réservé à l'administration", "")]
    for label, value in shuffled:
        rows += [tr(label, value), tr("", "")]
    body = p("Une section que la fiche n'a pas", style="Heading1") + p("Texte libre sans étiquette.")
    body += tbl(*rows) + p("") + budget_tables() + p("Annexe", style="Heading1") + p("Autre chose : 12")
    result = read(docx(body))
    assert result["fields"] == FIELDS


def test_a_value_split_over_several_paragraphs_is_kept_whole(read):
    pairs = [(lab, "Première partie.\nSeconde partie.") if lab == "Description du projet" else (lab, v) for lab, v in PAIRS]
    result = read(docx(label_table(pairs) + budget_tables()))
    assert result["fields"]["description"] == "Première partie.\nSeconde partie."


def test_merged_label_cells_neither_duplicate_nor_shift_values(read):
    rows = []
    for label, value in PAIRS:
        if label == "Description du projet":
            rows.append(tr(tc(p(label), vmerge="restart"), cell("Premier paragraphe.")))
            rows.append(tr(tc(p(""), vmerge="continue"), cell("Second paragraphe.")))
        else:
            rows.append(tr(label, value))
    result = read(docx(tbl(*rows) + budget_tables()))
    expected = dict(FIELDS, description="Premier paragraphe.\nSecond paragraphe.")
    assert result["fields"] == expected


def test_tracked_insertions_count_and_deletions_do_not(read):
    pairs = [(lab, v) for lab, v in PAIRS if lab not in ("Intitulé du projet", "Parcours")]
    body = label_table(pairs) + tbl(
        tr(cell("Intitulé du projet"), tc(p(deleted("Ancien titre"), ins("Les petits reporters")))),
        tr(cell("Parcours"), tc(p(r("Citoyen")), p(deleted("Avenir")), p(deleted("Sport, santé, bien-être")),
                                p(r("Artistique et culturel")), p(deleted("Scientifique et technique")),
                                p(deleted("Co-éducation")))),
    )
    result = read(docx(body + budget_tables()))
    assert result["fields"]["intitule"] == "Les petits reporters"
    assert result["fields"]["parcours"] == ["citoyen", "artistique_culturel"]


def test_a_deleted_table_row_is_not_read(read):
    deleted_row = (
        '<w:tr><w:trPr><w:del w:id="9" w:author="P" w:date="2026-10-01T10:00:00Z"/></w:trPr>'
        + cell("Partenaires") + cell("Partenaire supprimé") + "</w:tr>"
    )
    result = read(docx(label_table(PAIRS).replace("</w:tbl>", deleted_row + "</w:tbl>") + budget_tables()))
    assert result["fields"]["partenaires"] is None


def test_nested_tables_inside_a_frame(read):
    frame = tbl(tr(tc(p("Fiche projet"), label_table(PAIRS), p(""))))
    result = read(docx(frame + budget_tables()))
    assert result["fields"] == FIELDS


@pytest.mark.parametrize("label", [
    "INTITULÉ DU PROJET", "intitule du projet", "Intitulé  du   projet :", "Intitulé du projet *",
    "Intitulé du projet (titre court) :", "Titre du projet", "Nom du projet", "Intitulé de l’action",
])
def test_labels_match_loosely(read, label):
    pairs = [(label, v) if lab == "Intitulé du projet" else (lab, v) for lab, v in PAIRS]
    result = read(docx(label_table(pairs) + budget_tables()))
    assert result["fields"]["intitule"] == "Les petits reporters"


# Fields whose value sits beside their label (repartition and materiel have tables).
BESIDE_LABEL = [k for k, v in FIELDS.items() if v is not None and k not in ("repartition", "materiel")]


@pytest.mark.parametrize("key", BESIDE_LABEL)
def test_every_alias_of_every_field_is_accepted(read, rules, key):
    f = rules.field(key)
    for alias in f.also:
        pairs = [(alias, v) if lab == f.label else (lab, v) for lab, v in PAIRS]
        result = read(docx(label_table(pairs) + budget_tables()))
        assert result["fields"][key] == FIELDS[key], alias


def test_a_docx_without_the_labels_is_not_a_fiche(read):
    result = read(docx(p("Compte rendu de réunion") + p("Ordre du jour : budget")))
    assert result["kind"] == "inconnu"
    assert [f["code"] for f in result["findings"]] == ["fiche_non_reconnue"]
    assert result["valid"] is False
    assert all(v in (None, []) for v in result["fields"].values())
