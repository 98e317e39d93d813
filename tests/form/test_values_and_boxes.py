"""Value formats and check-box styles of the spec (fiche-projet.md)."""

import pytest
from docx_factory import docx, legacy_box, p, r, sym, tbl, tc, tr, w14_box
from sample_fiche import MATERIEL_ROWS, PAIRS, REPARTITION_ROWS

NBSP, NNBSP = "\u00a0", "\u202f"


def fiche_with(read, label: str, value_cell: str, *extra_rows: str) -> dict:
    """The sample fiche with one row replaced by `value_cell` (an XML cell)."""
    rows = [tr(lab, v) for lab, v in PAIRS if lab != label]
    rows.append(tr(tc(p(label)), value_cell))
    budget = tbl(*(tr(*row) for row in REPARTITION_ROWS)) + tbl(*(tr(*row) for row in MATERIEL_ROWS))
    return read(docx(tbl(*rows, *extra_rows) + budget))


def text_cell(text: str) -> str:
    return tc(*(p(line) for line in text.split("\n")))


@pytest.mark.parametrize("written, expected", [
    ("1 234,56 €", "1234.56"), ("1234,56", "1234.56"), ("1.234,56 €", "1234.56"), ("1234.56", "1234.56"),
    ("1 500 € HT", "1500.00"), ("500€", "500.00"), (f"1{NBSP}234,56{NBSP}€", "1234.56"),
    (f"1{NNBSP}234,56{NNBSP}€", "1234.56"), ("4500", "4500.00"), ("4 500,5 euros", "4500.50"),
])
def test_amounts_in_french_formats(read, written, expected):
    result = fiche_with(read, "Coût total du projet", text_cell(written))
    assert result["fields"]["cout_total"] == expected


@pytest.mark.parametrize("written", ["quatre mille", "1,2,3.4.5", "€", "12/09/2026"])
def test_an_amount_that_cannot_be_read_is_reported_with_what_was_read(read, written):
    result = fiche_with(read, "Coût total du projet", text_cell(written))
    invalid = [f for f in result["findings"] if f["code"] == "valeur_invalide"]
    assert [f["field"] for f in invalid] == ["cout_total"]
    assert f"« {written} »" in invalid[0]["message"] and "1 500,00 €" in invalid[0]["message"]
    assert result["fields"]["cout_total"] is None
    assert "champ_manquant" not in [f["code"] for f in result["findings"]]


@pytest.mark.parametrize("written, start, end", [
    ("01/09/2026", "2026-09-01", "2026-09-01"), ("1/9/2026", "2026-09-01", "2026-09-01"),
    ("01-09-2026", "2026-09-01", "2026-09-01"), ("2026-09-01", "2026-09-01", "2026-09-01"),
    ("1er septembre 2026", "2026-09-01", "2026-09-01"), ("15 janvier 2027", "2027-01-15", "2027-01-15"),
    ("septembre 2026", "2026-09-01", "2026-09-30"), ("Février 2027", "2027-02-01", "2027-02-28"),
])
def test_dates_in_french_formats(read, written, start, end):
    rows = [tr(lab, v) for lab, v in PAIRS if lab not in ("Date de début", "Date de fin")]
    result = read(docx(tbl(*rows, tr("Date de début", written), tr("Date de fin", written))))
    assert result["fields"]["date_debut"] == start
    assert result["fields"]["date_fin"] == end


@pytest.mark.parametrize("written", ["31/02/2026", "à la rentrée", "13/13/2026"])
def test_an_impossible_date_is_reported(read, written):
    result = fiche_with(read, "Date de début", text_cell(written))
    invalid = [f for f in result["findings"] if f["code"] == "valeur_invalide"]
    assert [f["field"] for f in invalid] == ["date_debut"]
    assert "JJ/MM/AAAA" in invalid[0]["message"]


@pytest.mark.parametrize("written, expected", [
    ("48", 48), ("environ 60", 60), ("1 200 élèves", 1200), ("25 enfants et 10 parents", 25),
])
def test_number_of_beneficiaries(read, written, expected):
    assert fiche_with(read, "Nombre de bénéficiaires", text_cell(written))["fields"]["nb_beneficiaires"] == expected


@pytest.mark.parametrize("written", ["une classe", "0"])
def test_a_number_of_beneficiaries_that_is_not_positive_is_reported(read, written):
    result = fiche_with(read, "Nombre de bénéficiaires", text_cell(written))
    assert [(f["code"], f["field"]) for f in result["findings"] if f["severity"] == "error"] == [
        ("valeur_invalide", "nb_beneficiaires")
    ]


@pytest.mark.parametrize("written, expected", [
    ("03 21 70 60 20", "03 21 70 60 20"), ("0321706020", "03 21 70 60 20"), ("03.21.70.60.20", "03 21 70 60 20"),
    ("+33 3 21 70 60 20", "+33 3 21 70 60 20"), ("+33 (0)3 21 70 60 20", "+33 3 21 70 60 20"),
    ("0033321706020", "+33 3 21 70 60 20"),
])
def test_french_phone_numbers_are_normalised(read, written, expected):
    assert fiche_with(read, "Téléphone du référent", text_cell(written))["fields"]["referent_telephone"] == expected


def test_email_in_a_hyperlink_or_with_words_around(read):
    cell = tc(p('<w:hyperlink r:id="rId9">' + r("mailto:camille.martin@example.org") + "</w:hyperlink>"))
    assert fiche_with(read, "Courriel du référent", cell)["fields"]["referent_email"] == "camille.martin@example.org"
    result = fiche_with(read, "Courriel du référent", text_cell("Mme Martin : camille.martin@example.org"))
    assert result["fields"]["referent_email"] == "camille.martin@example.org"


OPTIONS = ["Citoyen", "Avenir", "Sport, santé, bien-être", "Artistique et culturel",
           "Scientifique et technique", "Co-éducation"]


def parcours_cell(mark_chosen: str, mark_other: str) -> str:
    chosen = {"Citoyen", "Co-éducation"}
    return tc(*(p(f"{mark_chosen if o in chosen else mark_other}{o}") for o in OPTIONS))


@pytest.mark.parametrize("mark", ["☒ ", "☑ ", "✓ ", "✔ ", "■ ", "[X] ", "[x] ", "(X) ", "X ", "x ", "☒"])
@pytest.mark.parametrize("empty", ["☐ ", "□ ", "[ ] ", "( ) ", ""])
def test_choices_marked_with_any_glyph(read, mark, empty):
    result = fiche_with(read, "Parcours", parcours_cell(mark, empty))
    assert result["fields"]["parcours"] == ["citoyen", "co_education"]


def test_an_x_in_front_among_bare_options(read):
    result = fiche_with(read, "Parcours", parcours_cell("X ", "   "))
    assert result["fields"]["parcours"] == ["citoyen", "co_education"]


@pytest.mark.parametrize("box", [
    lambda on: w14_box(on),
    lambda on: legacy_box(on),
    lambda on: legacy_box(None, default=on),
    lambda on: sym("Wingdings", "F0FE") if on else sym("Wingdings", "F0A8"),
    lambda on: sym("Wingdings 2", "F054") if on else sym("Wingdings 2", "F0A3"),
], ids=["w14-content-control", "legacy-form-field", "legacy-default", "wingdings", "wingdings-2"])
def test_choices_marked_with_word_check_boxes(read, box):
    chosen = {"Citoyen", "Co-éducation"}
    cell = tc(*(p(box(o in chosen), r(" " + o)) for o in OPTIONS))
    assert fiche_with(read, "Parcours", cell)["fields"]["parcours"] == ["citoyen", "co_education"]


def test_a_w14_box_follows_the_glyph_it_shows_not_its_hidden_state(read):
    # Word and LibreOffice show the glyph; w14:checked is what the porteur never sees
    # (LibreOffice keeps checked="0" under a ☐ overtyped with ☒). What the
    # coordinator sees when opening the file wins.
    overtyped = w14_box(False).replace("☐", "☒")  # checked glyph, unchecked state
    cleared = w14_box(True).replace("☒", "☐")  # unchecked glyph, checked state
    cell = tc(p(w14_box(True), r(" Citoyen")), p(overtyped, r(" Avenir")), p(cleared, r(" Co-éducation")))
    assert fiche_with(read, "Parcours", cell)["fields"]["parcours"] == ["citoyen", "avenir"]


def test_untouched_boxes_mean_nothing_was_chosen(read):
    result = fiche_with(read, "Parcours", parcours_cell("☐ ", "☐ "))
    assert result["fields"]["parcours"] == []
    assert ("champ_manquant", "parcours") in [(f["code"], f["field"]) for f in result["findings"]]


def test_options_chosen_by_deleting_the_others(read):
    result = fiche_with(read, "Parcours", tc(p("☐ Citoyen"), p("☐ Co-éducation")))
    assert result["fields"]["parcours"] == ["citoyen", "co_education"]


@pytest.mark.parametrize("label, written, key, expected", [
    ("Parcours", "Sport, santé, bien-être", "parcours", ["sport_sante_bien_etre"]),
    ("Parcours", "Co-éducation", "parcours", ["co_education"]),
    ("Parcours", "Parcours artistique et culturel\nCulturel", "parcours", ["artistique_culturel"]),
    ("Type de porteur", "Service de la Ville", "type_porteur", "service_ville"),
    ("Type de porteur", "☒ Service municipal", "type_porteur", "service_ville"),
    ("Type de porteur", "Entreprise", "type_porteur", "secteur_prive"),
    ("Secteur(s) de la Cité éducative", "Niveau 2", "secteurs", ["riaumont"]),
    ("Secteur(s) de la Cité éducative", "Collège Riaumont, Descartes", "secteurs", ["riaumont", "descartes"]),
    ("Temps d'intervention", "péri-scolaire", "temps", ["periscolaire"]),
    ("Temps d'intervention", "Scolaire et extra-scolaire", "temps", ["scolaire", "extrascolaire"]),
])
def test_option_labels_match_loosely(read, label, written, key, expected):
    assert fiche_with(read, label, text_cell(written))["fields"][key] == expected


def test_an_unknown_option_is_reported_with_the_choices(read):
    result = fiche_with(read, "Parcours", tc(p("☒ Citoyen"), p("☒ Parcours gastronomique")))
    invalid = [f for f in result["findings"] if f["code"] == "valeur_invalide"]
    assert len(invalid) == 1 and "Parcours gastronomique" in invalid[0]["message"]
    assert "Co-éducation" in invalid[0]["message"]
    assert result["fields"]["parcours"] == ["citoyen"]


def test_two_boxes_ticked_for_a_single_choice(read):
    result = fiche_with(read, "Type de porteur", tc(p("☒ Association"), p("☒ Secteur privé")))
    assert result["fields"]["type_porteur"] is None
    assert [f["field"] for f in result["findings"] if f["code"] == "valeur_invalide"] == ["type_porteur"]


@pytest.mark.parametrize("written, expected", [
    ("Oui", True), ("Non", False), ("oui", True), ("☒ Oui ☐ Non", True), ("☐ Oui ☒ Non", False),
    ("X Oui    ☐ Non", True), ("☐ Oui    X Non", False), ("Oui ☐   Non ☒", False), ("[X] Oui [ ] Non", True),
])
def test_yes_no_answers(read, written, expected):
    assert fiche_with(read, "Photos ou vidéos de mineurs prévues", text_cell(written))["fields"]["photos_mineurs"] is expected


def test_yes_no_with_an_x_in_the_oui_or_non_column(read):
    rows = [tr(lab, v) for lab, v in PAIRS if not lab.startswith(("Photos", "Engagement"))]
    result = read(docx(tbl(*rows) + tbl(
        tr("", "Oui", "Non"),
        tr("Photos ou vidéos de mineurs prévues", "X", ""),
        tr("Engagement communication", "", "x"),
    )))
    assert result["fields"]["photos_mineurs"] is True
    assert result["fields"]["engagement_communication"] is False


def test_both_yes_and_no_ticked_is_reported(read):
    result = fiche_with(read, "Photos ou vidéos de mineurs prévues", text_cell("☒ Oui ☒ Non"))
    assert result["fields"]["photos_mineurs"] is None
    assert [f["field"] for f in result["findings"] if f["code"] == "valeur_invalide"] == ["photos_mineurs"]


@pytest.mark.parametrize("mark, expected", [("☒", True), ("☐", False)])
def test_the_commitment_sentence_ticked_in_a_paragraph(read, mark, expected):
    rows = [tr(lab, v) for lab, v in PAIRS if lab != "Engagement communication"]
    sentence = f"{mark} Je m'engage à faire figurer les logos et la mention « Avec le concours de la Préfecture… »"
    result = read(docx(tbl(*rows) + p(sentence)))
    assert result["fields"]["engagement_communication"] is expected


def test_objective_codes_with_text_after_them(read):
    result = fiche_with(read, "Objectif(s) stratégique(s)", text_cell("2.2.1 Améliorer le bien-être ; 3.3.2 (communautés)"))
    assert result["fields"]["objectifs"] == ["2.2.1", "3.3.2"]


def test_ticked_objectives_in_a_list_of_boxes(read):
    cell = tc(p("☐ 1.1.1 Favoriser la maîtrise des savoirs"), p("☒ 1.1.2 Dynamiser les parcours"), p("☒ 3.2.1 Mobilité"))
    assert fiche_with(read, "Objectif(s) stratégique(s)", cell)["fields"]["objectifs"] == ["1.1.2", "3.2.1"]


def test_an_objective_code_outside_the_taxonomy_is_reported(read):
    result = fiche_with(read, "Objectif(s) stratégique(s)", text_cell("1.2.2 et 4.1.1"))
    invalid = [f for f in result["findings"] if f["code"] == "valeur_invalide"]
    assert result["fields"]["objectifs"] == ["1.2.2"]
    assert len(invalid) == 1 and "« 4.1.1 »" in invalid[0]["message"]


def test_objectives_without_any_code_are_reported(read):
    result = fiche_with(read, "Objectif(s) stratégique(s)", text_cell("Favoriser la réussite de tous"))
    assert [f["field"] for f in result["findings"] if f["code"] == "valeur_invalide"] == ["objectifs"]


@pytest.mark.parametrize("header", [
    ("Désignation", "Quantité", "Prix unitaire HT"), ("Désignation", "Qté", "PU HT"),
    ("Désignation", "Quantité", "Prix unitaire (HT)"), ("DÉSIGNATION", "QUANTITÉ", "PRIX UNITAIRE HT"),
])
def test_the_materiel_table_is_found_by_its_header(read, header):
    rows = [tr(lab, v) for lab, v in PAIRS]
    materiel = tbl(tr(*header), tr("Enregistreur audio", "2", "189,00 €"), tr("", "", ""),
                   tr("Tablette", "", "329 € HT"), tr("Total", "", "707 €"))
    result = read(docx(tbl(*rows) + materiel))
    assert result["fields"]["materiel"] == [
        {"designation": "Enregistreur audio", "quantite": 2, "prix_unitaire_ht": "189.00"},
        {"designation": "Tablette", "quantite": 1, "prix_unitaire_ht": "329.00"},
    ]


def test_a_materiel_line_that_cannot_be_read_names_the_line(read):
    rows = [tr(lab, v) for lab, v in PAIRS]
    materiel = tbl(tr("Désignation", "Quantité", "Prix unitaire HT"), tr("Caméra", "deux", "sur devis"))
    result = read(docx(tbl(*rows) + materiel))
    invalid = [f for f in result["findings"] if f["code"] == "valeur_invalide"]
    assert len(invalid) == 1 and "« Caméra »" in invalid[0]["message"] and "deux" in invalid[0]["message"]


@pytest.mark.parametrize("repartition", [
    tbl(tr("Année", "Montant"), tr("2026", "1 200 €"), tr("2027", "1 800 €")),
    tbl(tr("Répartition par année civile", "2026 : 1 200 €\n2027 : 1 800 €")),
    p("Répartition par année civile :") + p("2026 : 1 200 €") + p("2027 : 1 800,00 €"),
], ids=["table-rows", "lines-in-cell", "paragraph-lines"])
def test_the_repartition_by_civil_year(read, repartition):
    rows = [tr(lab, v) for lab, v in PAIRS]
    result = read(docx(tbl(*rows) + repartition))
    assert result["fields"]["repartition"] == {"2026": "1200.00", "2027": "1800.00"}
