"""Every finding code of the spec, on real .docx files (fiche-projet.md, "Validation")."""

import pytest
from conftest import codes
from sample_fiche import FIELDS, PAIRS, fiche

from bot.rules import load_rules


def errors(result):
    return [(f["code"], f["field"]) for f in result["findings"] if f["severity"] == "error"]


def only(result, code):
    found = [f for f in result["findings"] if f["code"] == code]
    assert len(found) == 1, result["findings"]
    return found[0]


def test_the_sample_is_valid_with_only_the_expected_warning(read):
    result = read(fiche())
    assert result["valid"] is True
    assert [(f["code"], f["severity"]) for f in result["findings"]] == [("avis_requis", "warning")]


@pytest.mark.parametrize("label", [label for label, _ in PAIRS])
def test_each_missing_required_field_gives_one_champ_manquant(read, rules, label):
    key = next(f.key for f in rules.fields if f.label == label)
    result = read(fiche({label: ""}))
    missing = [f for f in result["findings"] if f["code"] == "champ_manquant"]
    if rules.field(key).required:
        assert [(f["field"], f["severity"]) for f in missing] == [(key, "error")]
        assert f"« {label} »" in missing[0]["message"] and "compléter" in missing[0]["message"]
        assert result["valid"] is False
    else:
        assert missing == []


def test_valeur_invalide_on_a_bad_email(read):
    finding = only(read(fiche({"Courriel du référent": "camille.martin@exemple"})), "valeur_invalide")
    assert finding["field"] == "referent_email" and finding["severity"] == "error"
    assert "« camille.martin@exemple »" in finding["message"]


def test_dates_incoherentes_when_the_end_is_before_the_start(read):
    result = read(fiche({"Date de début": "01/03/2027", "Date de fin": "30/09/2026"}))
    finding = only(result, "dates_incoherentes")
    assert finding["severity"] == "error" and "30/09/2026" in finding["message"] and "01/03/2027" in finding["message"]


def test_montant_superieur_cout(read):
    result = read(fiche({"Montant sollicité": "5 000 €"}, repartition=[("2026", "2 000 €"), ("2027", "3 000 €")]))
    finding = only(result, "montant_superieur_cout")
    assert finding["field"] == "montant_sollicite"
    assert "5 000,00 €" in finding["message"].replace("\u202f", " ").replace("\u00a0", " ")


def test_repartition_required_when_the_project_spans_two_civil_years(read):
    finding = only(read(fiche(repartition=None)), "repartition_annuelle")
    assert finding["field"] == "repartition" and "2026 et 2027" in finding["message"]


def test_repartition_not_required_within_one_civil_year(read):
    result = read(fiche({"Date de fin": "18/12/2026"}, repartition=None))
    assert "repartition_annuelle" not in codes(result)


@pytest.mark.parametrize("rows, ok", [
    ([("2026", "1 200 €"), ("2027", "1 800 €")], True),
    ([("2026", "1 200,005 €"), ("2027", "1 800 €")], True),  # within 0.01 €
    ([("2026", "1 200 €"), ("2027", "1 700 €")], False),
    ([("2026", "3 000 €")], True),
    ([("2026", "1 000 €"), ("2027", "1 000 €"), ("2028", "1 000 €")], False),
])
def test_repartition_must_add_up_to_the_amount_requested(read, rows, ok):
    result = read(fiche(repartition=rows))
    assert ("repartition_annuelle" not in codes(result)) is ok


def test_duree_excessive_beyond_two_civil_years(read):
    result = read(fiche({"Date de fin": "30/06/2028"}))
    finding = only(result, "duree_excessive")
    assert finding["severity"] == "error" and "3 années civiles" in finding["message"]
    assert "repartition_annuelle" not in codes(result)


def test_materiel_plafond_names_the_line_and_the_amount(read):
    materiel = [("Désignation", "Quantité", "Prix unitaire HT"), ("Vidéoprojecteur", "1", "650 €"),
                ("Enceinte", "2", "500,00 €")]
    finding = only(read(fiche(materiel=materiel)), "materiel_plafond")
    message = finding["message"].replace("\u202f", " ").replace("\u00a0", " ")
    assert message.startswith("Ligne « Vidéoprojecteur » : 650,00 € HT dépasse le plafond de 500 € HT par unité ;")


def test_the_cap_comes_from_the_rules_data(read, tmp_path):
    import shutil

    from bot.form.check import check_bytes
    from bot.paths import rules_dir

    folder = tmp_path / "rules"
    shutil.copytree(rules_dir(), folder)
    call = (folder / "call.toml").read_text(encoding="utf-8").replace('"500.00"', '"150.00"')
    (folder / "call.toml").write_text(call, encoding="utf-8")
    result = check_bytes(fiche(), load_rules(folder))
    assert [f.code for f in result.findings if f.severity == "error"] == ["materiel_plafond"]
    assert "150 €" in result.findings[0].message.replace("\u00a0", " ")


@pytest.mark.parametrize("answer", ["☐ Oui ☒ Non", "Non"])
def test_engagement_communication_not_checked(read, answer):
    finding = only(read(fiche({"Engagement communication": answer})), "engagement_communication")
    assert finding["severity"] == "error"
    assert "Avec le concours de la Préfecture du Pas-de-Calais" in finding["message"]


def test_avis_requis_only_for_school_time(read):
    assert only(read(fiche()), "avis_requis")["severity"] == "warning"
    result = read(fiche({"Temps d'intervention": "☐ Scolaire\n☒ Périscolaire\n☐ Extrascolaire"}))
    assert "avis_requis" not in codes(result)


def test_photos_mineurs_warning_when_photos_are_planned(read):
    result = read(fiche({"Photos ou vidéos de mineurs prévues": "☒ Oui ☐ Non"}))
    finding = only(result, "photos_mineurs")
    assert finding["severity"] == "warning" and result["valid"] is True


def test_findings_follow_the_order_of_the_rules(read, rules):
    result = read(fiche({"Nom du référent": "", "Date de début": "01/03/2027", "Date de fin": "30/09/2026",
                         "Engagement communication": "Non"}))
    order = [r.code for r in rules.checks]
    positions = [order.index(c) for c in codes(result)]
    assert positions == sorted(positions)


def test_fields_as_json_carry_amounts_as_strings_and_dates_in_iso(read):
    fields = read(fiche())["fields"]
    assert fields == FIELDS
    assert isinstance(fields["cout_total"], str) and fields["date_debut"] == "2026-09-01"
