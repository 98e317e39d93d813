"""`citebot export OUT.xlsx|OUT.csv`: dossiers made by the real path (`citebot demo`), a decision, an avis
and bilans added in the database, exported through the CLI, opened back with openpyxl and csv and
compared cell by cell with `rows()` and `totals()`."""

import csv
import re
from datetime import date, datetime, timezone
from decimal import Decimal

import openpyxl
import pytest
from conftest import run_cli

from bot.clock import PARIS
from bot.config import load_config
from bot.demo import CONFIG
from bot.dossier.export import AMOUNT, DATE, GROUPS, NOT_GIVEN, NUMBER, columns, row, rows, totals, write_csv
from bot.dossier.views import list_dossiers
from bot.store.db import open_database
from bot.store.models import AvisRequest, Bilan, Dossier, Version

NNBSP, NBSP = "\u202f", "\u00a0"


def sessions_of(config_path):
    cfg = load_config(config_path)
    return open_database(cfg.bot.data_dir, cfg.bot.database_url)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's three dossiers, then: #1 accepted with two bilans, #2 with a formula-like title and
    missing values, #3 with an unfavourable avis and refused."""
    folder = tmp_path_factory.mktemp("export") / "demo"
    proc = run_cli("demo", str(folder))
    assert proc.returncode == 0, proc.stderr
    config = folder / "config.toml"
    sessions = sessions_of(config)
    with sessions.begin() as s:
        first, second, third = list_dossiers(s)
        for owed in first.bilans:  # the demo's own decision made them: these are the test's
            s.delete(owed)
        s.flush()
        first.status, first.montant_accorde = "accepte", "2500.00"
        first.decided_at = datetime(2027, 1, 14, 17, 0, tzinfo=PARIS)
        first.decision_comment = "Accord partiel"
        s.add_all([
            # received at 23:30 UTC on 12/12: already the 13th in Paris
            Bilan(dossier=first, kind="mi_parcours", year=2026, due=date(2026, 12, 31),
                  received_at=datetime(2026, 12, 12, 23, 30, tzinfo=timezone.utc)),
            Bilan(dossier=first, kind="definitif", year=2027, due=date(2027, 8, 29)),
        ])
        fields = dict(second.current.fields)
        fields.update(intitule='=HYPERLINK("http://exemple.org";"clic")', cout_total=None, date_fin=None,
                      parcours=["citoyen", "sport_sante_bien_etre"], secteurs=[])
        second.current.fields = fields
        third.avis.status = "defavorable"
        third.avis.answered_at = datetime(2027, 1, 5, 9, 0, tzinfo=timezone.utc)
        third.status = "refuse"
        third.decided_at = datetime(2027, 1, 14, 17, 5, tzinfo=PARIS)
    return config


def expected(config_path, rules):
    with sessions_of(config_path)() as s:
        found = list_dossiers(s)
        data = rows(found, rules)
        raw = [d.current.fields for d in found]
    return data, totals(data), raw


def export(config_path, out):
    proc = run_cli("--config", str(config_path), "export", str(out), cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_rows_give_french_labels_decimals_and_dates(demo, rules):
    data, _, _ = expected(demo, rules)
    first, second, third = data
    assert first["statut"] == "accepté" and first["decision"] == "accepté"
    assert first["montant_accorde"] == Decimal("2500.00") and first["montant_sollicite"] == Decimal("3000.00")
    assert first["date_debut"] == date(2026, 9, 1) and first["parcours"] == "Citoyen, Artistique et culturel"
    assert first["type_porteur"] == "Association" and first["temps"] == "Périscolaire"
    assert first["secteurs"] == "Niveau 1 – Collège Curie" and first["objectifs"] == "1.2.2, 3.1.3"
    assert first["sollicite_2026"] == Decimal("1200.00") and first["sollicite_2027"] == Decimal("1800.00")
    assert first["bilans"] == ("mi-parcours 2026 : reçu le 13/12/2026 ; "
                               "définitif 2027 : attendu le 29/08/2027")
    assert first["avis"] == "non requis" and first["courriel"] == "camille.martin@example.org"
    assert second["statut"] == "incomplet" and second["decision"] == "" and second["montant_accorde"] is None
    assert second["cout_total"] is None and second["date_fin"] is None and second["secteurs"] == ""
    assert second["courriel"] == ""  # the porteur's address was invalid: no value
    assert second["parcours"] == "Citoyen, Sport, santé, bien-être"
    assert third["avis"] == "défavorable" and third["decision"] == "refusé" and third["statut"] == "refusé"
    assert third["bilans"] == ""


def test_xlsx_cells_are_the_rows_with_numbers_dates_and_formats(demo, rules, tmp_path):
    out = tmp_path / "troika.xlsx"
    proc = export(demo, out)
    assert proc.stdout.strip() == f"3\u00a0dossiers exportés dans {out}."
    data, sums, raw = expected(demo, rules)
    cols = columns(rules)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Troïka", "Dossiers", "Totaux"]
    sheet = book["Dossiers"]
    assert sheet.max_row == 1 + len(data) + 2 and sheet.max_column == len(cols)  # then a blank row, the total
    header = sheet[1]
    assert [c.value for c in header] == [c.header for c in cols]
    assert all(c.font.bold for c in header)
    assert sheet.freeze_panes == "C2"
    assert sheet.auto_filter.ref == f"A1:{header[-1].column_letter}{len(data) + 1}"
    assert all(sheet.column_dimensions[c.column_letter].width >= 10 for c in header)
    for values, cells in zip(data, sheet.iter_rows(min_row=2, max_row=1 + len(data))):
        for col, cell in zip(cols, cells):
            want = values.get(col.key)
            if want in (None, ""):
                assert cell.value is None, (col.key, cell.value)
            elif col.kind == AMOUNT:
                assert isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool)
                assert Decimal(str(cell.value)) == want, col.key
                assert cell.number_format == "#,##0.00 €"
            elif col.kind == DATE:
                assert cell.is_date and isinstance(cell.value, datetime), col.key
                assert cell.value.date() == want and cell.number_format == "DD/MM/YYYY"
            elif col.kind == NUMBER:
                assert cell.value == want and cell.data_type == "n", col.key
            else:
                assert cell.data_type == "s" and cell.value == want, col.key
    # the porteur's "=HYPERLINK(...)" is text, not a formula
    title = sheet.cell(row=3, column=[c.key for c in cols].index("intitule") + 1)
    assert title.data_type == "s" and title.value.startswith("=HYPERLINK")

    # Totaux: the lines of totals(), in order, then the note
    sheet = book["Totaux"]
    lines = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert [c.value for c in sheet[1]] == ["Rubrique", "Catégorie", "Dossiers",
                                           "Montant sollicité", "Montant accordé"]
    headings = {"ensemble": "Ensemble", "annees": "Année civile", "parcours": "Parcours",
                "objectifs": "Objectif stratégique", "secteurs": "Secteur"}
    want = [[headings[h], t.label, t.dossiers, t.sollicite, t.accorde] for h, ts in sums.items() for t in ts]
    got = [line for line in lines if line[2] is not None]
    assert [[h, label, n, Decimal(str(a)), Decimal(str(b))] for h, label, n, a, b in got] == want
    for r in sheet.iter_rows(min_row=2, max_row=1 + len(got)):
        assert r[3].number_format == r[4].number_format == "#,##0.00 €"
    note = [line[0] for line in lines if line[0] and line[2] is None]
    assert len(note) == 1 and "compté dans chacun" in note[0]

    # and the sums agree with the Dossiers sheet and with the fields in the database
    by_heading = {h: {t.label: t for t in ts} for h, ts in sums.items()}
    everyone = by_heading["ensemble"]["Tous les dossiers"]
    assert everyone.dossiers == 3
    assert everyone.sollicite == sum(r["montant_sollicite"] for r in data) == Decimal("9300.00")
    assert everyone.accorde == Decimal("2500.00")
    for heading, option_list in (("parcours", "parcours"), ("secteurs", "secteurs")):
        for option in rules.options[option_list]:
            members = [r for r, f in zip(data, raw) if option.key in f[heading]]
            if not members:
                assert option.label not in by_heading[heading]
                continue
            line = by_heading[heading][option.label]
            assert line.dossiers == len(members)
            assert line.sollicite == sum(r["montant_sollicite"] for r in members)
            assert line.accorde == sum(r["montant_accorde"] or 0 for r in members)
    assert by_heading["parcours"]["Citoyen"].dossiers == 2  # two dossiers, one of them with two parcours
    assert by_heading["parcours"]["Sport, santé, bien-être"].dossiers == 1
    assert by_heading["secteurs"][NOT_GIVEN].dossiers == 1  # the one whose secteurs were emptied
    assert by_heading["objectifs"]["3.1.3 Promouvoir l'éducation artistique et culturelle"].dossiers == 3


def test_csv_is_french_excel_csv_with_the_rows(demo, rules, tmp_path):
    out = tmp_path / "troika.csv"
    export(demo, out)
    data, _, _ = expected(demo, rules)
    cols = columns(rules)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the accents
    with open(out, encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f, delimiter=";"))
    assert table[0] == [c.header for c in cols]
    assert len(table) == 1 + len(data)
    for values, cells in zip(data, table[1:]):
        assert len(cells) == len(cols)
        for col, cell in zip(cols, cells):
            want = values.get(col.key)
            if want in (None, ""):
                assert cell == "", col.key
            elif col.kind == AMOUNT:
                assert re.fullmatch(r"-?\d+,\d\d", cell), cell  # decimal comma, no thousands separator
                assert Decimal(cell.replace(",", ".")) == want
            elif col.kind == DATE:
                assert re.fullmatch(r"\d\d/\d\d/\d{4}", cell)
                assert datetime.strptime(cell, "%d/%m/%Y").date() == want
            elif col.kind == NUMBER:
                assert cell == str(want)
            elif want.startswith(("=", "+", "-", "@")):
                assert cell == "'" + want  # never run as a formula by the spreadsheet
            else:
                assert cell == want, col.key
    assert table[1][cols.index(next(c for c in cols if c.key == "montant_accorde"))] == "2500,00"


def test_an_empty_database_gives_the_headers_only(tmp_path, rules):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    for suffix in ("xlsx", "csv"):
        out = tmp_path / f"vide.{suffix}"
        proc = export(config, out)
        assert proc.stdout.strip() == f"0\u00a0dossier exporté dans {out}."
    book = openpyxl.load_workbook(tmp_path / "vide.xlsx")
    sheet = book["Dossiers"]
    assert sheet.max_row == 1 and [c.value for c in sheet[1]] == [c.header for c in columns(rules)]
    lines = [[c.value for c in r] for r in book["Totaux"].iter_rows(min_row=2) if any(c.value for c in r)]
    assert lines[0] == ["Ensemble", "Tous les dossiers", 0, 0, 0] and len(lines) == 2  # and the note
    with open(tmp_path / "vide.csv", encoding="utf-8-sig", newline="") as f:
        assert list(csv.reader(f, delimiter=";")) == [[c.header for c in columns(rules)]]


def test_a_bad_suffix_or_a_missing_folder_is_one_french_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    proc = run_cli("--config", str(config), "export", str(tmp_path / "troika.ods"), cwd=tmp_path)
    assert proc.returncode == 2 and "doit finir par .xlsx ou .csv" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "troika.ods").exists()
    proc = run_cli("--config", str(config), "export", str(tmp_path / "absent" / "troika.xlsx"), cwd=tmp_path)
    assert proc.returncode == 1 and "n'existe pas" in proc.stderr and "Traceback" not in proc.stderr


def test_totals_count_a_dossier_in_each_of_its_categories(rules):
    """The pure part on dossiers that never saw a database."""

    def dossier(ref, status, parcours, sollicite, accorde=None, avis=None):
        d = Dossier(reference=ref, status=status, montant_accorde=accorde,
                    created_at=datetime(2026, 10, 1, 22, 30, tzinfo=timezone.utc))
        fields = {"parcours": parcours, "secteurs": ["riaumont"], "objectifs": ["9.9.9"],
                  "montant_sollicite": sollicite, "type_porteur": "association", "temps": [],
                  "repartition": {"2027": "100.00", "2026": "50.00"}}
        d.versions = [Version(number=1, fields=fields, created_at=d.created_at)]
        if avis:
            d.avis_requests = [AvisRequest(status=avis)]
        return d

    data = rows([dossier("A", "accepte", ["avenir", "citoyen"], "1000.00", "800.00", "favorable"),
                 dossier("B", "pret_troika", ["citoyen"], "500.50", avis="demande"),
                 dossier("C", "sans_suite", [], None)], rules)
    assert [r["avis"] for r in data] == ["favorable", "demandé", "non requis"]
    assert [r["statut"] for r in data] == ["accepté", "prêt pour la troïka", "classé sans suite"]
    assert data[0]["recu_le"] == date(2026, 10, 2)  # 22:30 UTC is the next day in Paris
    assert (data[0]["sollicite_2026"], data[0]["sollicite_2027"]) == (Decimal("50.00"), Decimal("100.00"))
    assert data[0]["parcours"] == "Avenir, Citoyen"
    unknown_last = (len(rules.objective_codes), "9.9.9")  # an unknown code: itself, after the known ones
    assert data[0][GROUPS]["objectifs"] == [unknown_last]
    sums = totals(data)
    parcours = {t.label: (t.dossiers, t.sollicite, t.accorde) for t in sums["parcours"]}
    assert [t.label for t in sums["parcours"]] == ["Citoyen", "Avenir", NOT_GIVEN]  # the order of the rules
    assert parcours["Citoyen"] == (2, Decimal("1500.50"), Decimal("800.00"))
    assert parcours["Avenir"] == (1, Decimal("1000.00"), Decimal("800.00"))
    assert parcours[NOT_GIVEN] == (1, Decimal("0.00"), Decimal("0.00"))
    assert sums["ensemble"][0].dossiers == 3 and sums["ensemble"][0].sollicite == Decimal("1500.50")
    assert [t.label for t in sums["secteurs"]] == ["Niveau 2 – Collège Riaumont"]
    assert row(dossier("D", "nouveau", [], "1"), rules)["decision"] == ""


def test_texts_lose_their_control_and_bidi_characters_before_the_formula_check(rules, tmp_path):
    """A porteur's U+202E would reverse what the troïka reads; stripped only afterwards, it would
    also hide the "=" of a formula from the CSV writer's check."""
    d = Dossier(reference="CE-2026-0001", status="incomplet", created_at=datetime(2026, 10, 1, tzinfo=timezone.utc))
    fields = {"intitule": "\u202e=1+1", "structure": "École \u2066Jaurès\u2069\x9b", "referent_nom": "Camille\u200f",
              "type_porteur": "association", "temps": []}
    d.versions = [Version(number=1, fields=fields, created_at=d.created_at)]
    [values] = rows([d], rules)
    assert (values["intitule"], values["structure"], values["referent"]) == ("=1+1", "École Jaurès", "Camille")
    write_csv(tmp_path / "t.csv", [values], rules)
    with open(tmp_path / "t.csv", encoding="utf-8-sig", newline="") as f:
        [_, cells] = list(csv.reader(f, delimiter=";"))
    assert cells[2:4] == ["'=1+1", "École Jaurès"]


# -- issue 13: what the troïka needs on paper and by year -----------------------------------------


def test_the_export_has_every_column_the_troika_reads(rules):
    headers = [c.header for c in columns(rules)]
    for needed in ("Description du projet", "Public visé", "Nombre de bénéficiaires", "Établissement(s) concerné(s)",
                   "Partenaires", "Dépenses de matériel", "Commentaire de l'IEN", "Commentaire de la troïka",
                   "Téléphone du référent", "Sollicité 2026", "Sollicité 2027"):
        assert needed in headers, needed
    assert "Répartition par année civile" not in headers  # a text nobody can sum: numeric columns instead
    assert [c.kind for c in columns(rules) if c.header.startswith("Sollicité ")] == [AMOUNT, AMOUNT]
    assert "Sollicité 2028" in [c.header for c in columns(rules, [2028])]


def test_per_year_amounts_and_totals_and_no_avis_where_none_is_needed(rules):
    def dossier(ref, status, temps, sollicite, repartition, accorde=None):
        d = Dossier(reference=ref, status=status, montant_accorde=accorde,
                    created_at=datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc))
        fields = {"montant_sollicite": sollicite, "temps": temps, "repartition": repartition,
                  "date_debut": "2026-09-01", "date_fin": "2027-06-30",
                  "materiel": [{"designation": "Tablette", "quantite": 2, "prix_unitaire_ht": "458.33"}]}
        d.versions = [Version(number=1, fields=fields, created_at=d.created_at)]
        return d

    data = rows([dossier("A", "accepte", ["periscolaire"], "3000.00", {"2026": "1200.00", "2027": "1800.00"},
                         "1500.00"),
                 dossier("B", "en_attente_avis", ["scolaire"], "1000.00", {"2026": "1000.00"})], rules)
    assert data[0]["avis"] == "non requis" and data[1]["avis"] == "à demander"
    assert data[0]["materiel"] == "Tablette × 2 à 458,33\u00a0€ HT"
    years = {t.label: (t.dossiers, t.sollicite, t.accorde) for t in totals(data)["annees"]}
    assert years == {"2026": (2, Decimal("2200.00"), Decimal("600.00")),
                     "2027": (1, Decimal("1800.00"), Decimal("900.00"))}


def test_the_xlsx_prints_on_landscape_a4_legibly_with_the_header_on_every_page(demo, tmp_path):
    """The meeting's sheet and the totals fit the width of a page; the sheet of every column
    (33 of them: a page wide, they would be too small to read) prints at 70 % over several
    pages, the reference, the status and the title on each."""
    out = tmp_path / "troika.xlsx"
    export(demo, out)
    book = openpyxl.load_workbook(out)
    for sheet in book:
        setup = sheet.page_setup
        assert setup.orientation == "landscape" and int(setup.paperSize) == 9  # A4
        assert sheet.print_title_rows == "$1:$1"
        assert all(c.alignment.wrap_text for c in sheet[1]) and all(c.font.bold for c in sheet[1])
        if sheet.title == "Dossiers":
            assert not sheet.sheet_properties.pageSetUpPr.fitToPage and int(setup.scale) == 70
            assert sheet.print_title_cols == "$A:$C"
        else:
            assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
            assert (int(setup.fitToWidth), int(setup.fitToHeight)) == (1, 0)
    meeting = book["Troïka"]
    assert [c.value for c in meeting[1]] == ["Référence", "Statut", "Intitulé du projet", "Structure porteuse",
                                             "Parcours", "Temps d'intervention", "Coût total du projet",
                                             "Montant sollicité", "Avis de l'IEN", "Décision de la troïka",
                                             "Montant accordé"]
    # On paper at the scale the fit gives (width in characters of the default font): legible.
    printable = 11.69 - 2 * 0.4  # inches of landscape A4 between the margins
    width = sum(meeting.column_dimensions[letter].width for letter in "ABCDEFGHIJK")
    assert width * 0.075 <= printable / 0.75, "the meeting's sheet would print below 75 %"
    sheet = book["Dossiers"]
    assert sheet.freeze_panes == "C2" and sheet.auto_filter.ref.startswith("A1:")
    headers = [c.value for c in sheet[1]]
    column = headers.index("Sollicité 2026") + 1
    assert sheet.cell(row=2, column=column).value == 1200 and sheet.cell(row=2, column=column).number_format == "#,##0.00 €"
    total = [r for r in sheet.iter_rows() if r[0].value == "Total"]
    assert len(total) == 1 and total[0][column - 1].value.startswith("=SUBTOTAL(9,")
    description = sheet.cell(row=2, column=headers.index("Description du projet") + 1)
    assert description.alignment.wrap_text
