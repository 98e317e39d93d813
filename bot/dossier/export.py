"""`citebot export OUT.xlsx|OUT.csv`: one row per dossier for the troïka meeting.

A pure part and two thin writers:

- `rows(dossiers, rules)` gives one dict per dossier, column key -> Python value:
  `Decimal` for amounts, `date` for dates, French labels for the status and the
  options (labels of `rules/options.toml`, joined by ", "), text for the rest.
  A missing amount or date is `None`; a missing text is "".
- `totals(rows)` gives, per parcours, objectif stratégique and secteur, the number
  of dossiers, the amount requested and the amount granted. A dossier with several
  parcours (objectifs, secteurs) counts in each, so the lines of one heading do not
  add up; the line "Tous les dossiers" counts each dossier once. The sheet says so.
- `write_xlsx(path, rows, totals[, rules])`: sheet "Troïka" (the columns the meeting reads,
  printed one landscape A4 page wide), sheet "Dossiers" (every column: bold frozen header
  row, auto filter, column widths, amounts as numbers formatted `#,##0.00 €`, dates as real
  dates formatted `DD/MM/YYYY`; printed at 70 % over several pages, the first three columns
  on each) and sheet "Totaux" (the totals, then the note).
- `write_csv(path, rows[, rules])` (rules give the headers): what a French coordinator
  expects when double-clicking it in Excel or LibreOffice with French settings: UTF-8
  with a BOM (so Excel
  reads the accents), `;` as separator, amounts with a decimal comma and no
  thousands separator ("1234,56", read back as a number), dates as "DD/MM/YYYY".
  A text starting with = + - @ (or a tab / carriage return) gets a leading
  apostrophe, so a spreadsheet never runs it as a formula (CSV injection).

Texts reach both writers without control or bidirectional-override characters
(`bot.mail.safe_text.clean`, in `row`): a porteur's U+202E would reverse what the
troïka reads. They are cleaned before the writers look at how a text starts, so that
what the spreadsheet gets is what was checked for a formula.

In the XLSX, every text cell is written as text, never as a formula, whatever it
starts with: the porteurs write these values.

Datetimes of the database are aware (UTC); the export shows Paris dates.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.clock import PARIS
from bot.dossier.views import STATUS_LABELS
from bot.form.values import format_amount, format_date
from bot.mail.safe_text import clean
from bot.rules import Rules, load_rules
from bot.store.models import Dossier

AMOUNT, DATE, TEXT, NUMBER, LONG = "amount", "date", "text", "number", "long"

AVIS_LABELS = {"favorable": "favorable", "defavorable": "défavorable", "demande": "demandé"}
AVIS_NOT_NEEDED = "non requis"  # not on school time: no avis of the IEN is asked
AVIS_NOT_YET = "à demander"  # on school time, the fiche not yet complete
DECISION_LABELS = {"accepte": "accepté", "refuse": "refusé"}
BILAN_LABELS = {"mi_parcours": "mi-parcours", "definitif": "définitif"}

AMOUNT_FORMAT = "#,##0.00 €"
DATE_FORMAT = "DD/MM/YYYY"
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The columns of the sheet printed for the meeting (sheet "Troïka"), in the order of columns().
TROIKA_KEYS = ("reference", "statut", "intitule", "structure", "parcours", "temps", "cout_total",
               "montant_sollicite", "avis", "decision", "montant_accorde")

GROUPS = "_groupes"  # key of each row holding what totals() counts: not a column


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = TEXT


YEAR_PREFIX = "sollicite_"


def year_key(year: int | str) -> str:
    return f"{YEAR_PREFIX}{year}"


def columns(rules: Rules, years: Iterable[int] = ()) -> tuple[Column, ...]:
    """The columns in order; headers of form fields are the labels of rules/fields.toml.
    One amount column per civil year: the call's years and any other a dossier asks for."""
    label = lambda key: rules.field(key).label  # noqa: E731
    civil_years = sorted({int(y) for y in (*rules.call["civil_years"], *years)})
    return (
        Column("reference", "Référence"),
        Column("statut", "Statut"),
        Column("intitule", label("intitule")),
        Column("structure", label("structure")),
        Column("type_porteur", label("type_porteur")),
        Column("referent", label("referent_nom")),
        Column("courriel", label("referent_email")),
        Column("telephone", label("referent_telephone")),
        Column("parcours", label("parcours")),
        Column("objectifs", label("objectifs")),
        Column("secteurs", label("secteurs")),
        Column("temps", label("temps")),
        Column("etablissements", label("etablissements"), LONG),
        Column("public_vise", label("public_vise"), LONG),
        Column("nb_beneficiaires", label("nb_beneficiaires"), NUMBER),
        Column("partenaires", label("partenaires"), LONG),
        Column("description", label("description"), LONG),
        Column("recu_le", "Reçu le", DATE),
        Column("date_debut", label("date_debut"), DATE),
        Column("date_fin", label("date_fin"), DATE),
        Column("cout_total", label("cout_total"), AMOUNT),
        Column("montant_sollicite", label("montant_sollicite"), AMOUNT),
        *(Column(year_key(year), f"Sollicité {year}", AMOUNT) for year in civil_years),
        Column("materiel", label("materiel"), LONG),
        Column("avis", "Avis de l'IEN"),
        Column("avis_commentaire", "Commentaire de l'IEN", LONG),
        Column("decision", "Décision de la troïka"),
        Column("montant_accorde", "Montant accordé", AMOUNT),
        Column("decision_commentaire", "Commentaire de la troïka", LONG),
        Column("bilans", "Bilans"),
    )


# --- the pure part -------------------------------------------------------------------------------


def _amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _paris_date(instant: datetime | None) -> date | None:
    return instant.astimezone(PARIS).date() if instant else None


def _keys(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _positions(rules: Rules, option_list: str) -> dict[str, tuple[int, str]]:
    return {o.key: (i, o.label) for i, o in enumerate(rules.options[option_list])}


def _objectives(rules: Rules) -> dict[str, tuple[int, str]]:
    codes = [o for t in rules.taxonomy for a in t.axes for o in a.objectives]
    return {o.code: (i, f"{o.code} {o.title}") for i, o in enumerate(codes)}


def _labelled(keys: list[str], known: dict[str, tuple[int, str]]) -> list[tuple[int, str]]:
    """(position in the rules, label); an unknown key (rules changed since) comes last, as itself."""
    return [known.get(k, (len(known), k)) for k in keys]


def _per_year(value: Any) -> dict[str, Decimal | None]:
    """{year_key: amount} of the repartition; a project of one civil year without a
    repartition asks its whole amount for that year."""
    if not isinstance(value, dict):
        return {}
    return {year_key(year): _amount(amount) for year, amount in value.items() if str(year).isdigit()}


def _one_year(fields: dict) -> dict[str, Decimal | None]:
    start, end = _date(fields.get("date_debut")), _date(fields.get("date_fin"))
    if start and end and start.year == end.year and _amount(fields.get("montant_sollicite")) is not None:
        return {year_key(start.year): _amount(fields.get("montant_sollicite"))}
    return {}


def _materiel(value: Any) -> str:
    """« Enregistreur audio × 2 à 189,00 € HT ; … »."""
    lines = []
    for item in value or []:
        if not isinstance(item, dict):
            continue
        price = _amount(item.get("prix_unitaire_ht"))
        shown = f"{item.get('designation') or '?'} × {item.get('quantite') or 1}"
        lines.append(shown + (f" à {format_amount(price)} HT" if price is not None else ""))
    return " ; ".join(lines)


def _needs_avis(fields: dict, rules: Rules) -> bool:
    params = rules.check("avis_requis").params
    return params["option"] in _keys(fields.get(params["field"]))


def _avis(dossier: Dossier, fields: dict, rules: Rules) -> str:
    if dossier.avis:
        return AVIS_LABELS.get(dossier.avis.status, dossier.avis.status)
    return AVIS_NOT_YET if _needs_avis(fields, rules) else AVIS_NOT_NEEDED


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bilans(dossier: Dossier) -> str:
    parts = []
    for b in sorted(dossier.bilans, key=lambda b: (b.due, b.year, b.kind)):
        what = f"{BILAN_LABELS.get(b.kind, b.kind)} {b.year}"
        if b.received_at is not None:
            parts.append(f"{what} : reçu le {format_date(_paris_date(b.received_at))}")
        else:
            parts.append(f"{what} : attendu le {format_date(b.due)}")
    return " ; ".join(parts)


def _joined(labelled: list[tuple[int, str]]) -> str:
    return ", ".join(label for _, label in labelled)


def row(dossier: Dossier, rules: Rules) -> dict[str, Any]:
    """The dossier's columns; its texts without control or bidirectional characters
    (the porteurs wrote them), before any writer looks at how they start."""
    values = _values(dossier, rules)
    return {key: clean(value) if isinstance(value, str) else value for key, value in values.items()}


def _values(dossier: Dossier, rules: Rules) -> dict[str, Any]:
    current = dossier.current
    fields = current.fields if current else {}
    first = dossier.versions[0] if dossier.versions else None

    def options(key: str) -> list[tuple[int, str]]:
        return _labelled(_keys(fields.get(key)), _positions(rules, rules.field(key).options))

    parcours, secteurs = options("parcours"), options("secteurs")
    objectifs = _keys(fields.get("objectifs"))
    avis = dossier.avis
    return {
        "reference": dossier.reference,
        "statut": STATUS_LABELS.get(dossier.status, dossier.status),
        "intitule": fields.get("intitule") or "",
        "structure": fields.get("structure") or "",
        "type_porteur": _joined(options("type_porteur")),
        "referent": fields.get("referent_nom") or "",
        "courriel": fields.get("referent_email") or "",
        "telephone": fields.get("referent_telephone") or "",
        "parcours": _joined(parcours),
        "objectifs": ", ".join(objectifs),
        "secteurs": _joined(secteurs),
        "temps": _joined(options("temps")),
        "etablissements": fields.get("etablissements") or "",
        "public_vise": fields.get("public_vise") or "",
        "nb_beneficiaires": _integer(fields.get("nb_beneficiaires")),
        "partenaires": fields.get("partenaires") or "",
        "description": fields.get("description") or "",
        "recu_le": _paris_date(first.created_at if first else dossier.created_at),
        "date_debut": _date(fields.get("date_debut")),
        "date_fin": _date(fields.get("date_fin")),
        "cout_total": _amount(fields.get("cout_total")),
        "montant_sollicite": _amount(fields.get("montant_sollicite")),
        **(_per_year(fields.get("repartition")) or _one_year(fields)),
        "materiel": _materiel(fields.get("materiel")),
        "avis": _avis(dossier, fields, rules),
        "avis_commentaire": (avis.comment or "") if avis else "",
        "decision": DECISION_LABELS.get(dossier.status, ""),
        "montant_accorde": _amount(dossier.montant_accorde),
        "decision_commentaire": dossier.decision_comment or "",
        "bilans": _bilans(dossier),
        GROUPS: {
            "parcours": parcours,
            "objectifs": _labelled(objectifs, _objectives(rules)),
            "secteurs": secteurs,
        },
    }


def rows(dossiers: Iterable[Dossier], rules: Rules) -> list[dict[str, Any]]:
    """One dict per dossier (read inside the session: avis and bilans are loaded lazily)."""
    return [row(d, rules) for d in dossiers]


@dataclass(frozen=True)
class Total:
    label: str
    dossiers: int
    sollicite: Decimal
    accorde: Decimal


TOTAL_HEADINGS = {"ensemble": "Ensemble", "annees": "Année civile", "parcours": "Parcours",
                  "objectifs": "Objectif stratégique", "secteurs": "Secteur"}
NOT_GIVEN = "non renseigné"
TOTALS_HEADERS = ("Rubrique", "Catégorie", "Dossiers", "Montant sollicité", "Montant accordé")
TOTALS_NOTE = ("Un dossier qui relève de plusieurs parcours, objectifs ou secteurs "
               "est compté dans chacun : les lignes d'une même rubrique ne s'additionnent donc pas. "
               "La ligne « Tous les dossiers » compte chaque dossier une fois. "
               "Montant accordé : décisions de la troïka enregistrées ; par année civile, le montant accordé "
               "est réparti comme la demande (au prorata de la répartition par année civile).")


def _total(label: str, group: list[dict]) -> Total:
    return Total(label, len(group),
                 sum((r["montant_sollicite"] or Decimal(0) for r in group), Decimal("0.00")),
                 sum((r["montant_accorde"] or Decimal(0) for r in group), Decimal("0.00")))


def years_of(rows: list[dict[str, Any]]) -> list[int]:
    """The civil years the dossiers ask money for."""
    return sorted({int(key[len(YEAR_PREFIX):]) for r in rows for key in r if key.startswith(YEAR_PREFIX)})


def _year_total(year: int, rows: list[dict[str, Any]]) -> Total:
    key, asked, granted, count = year_key(year), Decimal("0.00"), Decimal("0.00"), 0
    for r in rows:
        amount = r.get(key)
        if amount is None:
            continue
        count += 1
        asked += amount
        if r["montant_accorde"] is not None and r["montant_sollicite"]:
            granted += (amount * r["montant_accorde"] / r["montant_sollicite"]).quantize(Decimal("0.01"))
    return Total(str(year), count, asked, granted)


def totals(rows: list[dict[str, Any]]) -> dict[str, list[Total]]:
    """Per heading ("ensemble", "annees", "parcours", "objectifs", "secteurs"), its lines in the order of
    the rules; dossiers without any value for a heading are one "non renseigné" line."""
    result = {"ensemble": [_total("Tous les dossiers", rows)],
              "annees": [_year_total(year, rows) for year in years_of(rows)]}
    for heading in ("parcours", "objectifs", "secteurs"):
        members: dict[tuple[int, str], list[dict]] = {}
        missing = []
        for r in rows:
            categories = dict.fromkeys(r[GROUPS][heading])  # once per dossier, in order
            if not categories:
                missing.append(r)
            for category in categories:
                members.setdefault(category, []).append(r)
        lines = [_total(label, members[(pos, label)]) for pos, label in sorted(members)]
        if missing:
            lines.append(_total(NOT_GIVEN, missing))
        result[heading] = lines
    return result


# --- the writers ---------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[dict[str, Any]], totals: dict[str, list[Total]],
               rules: Rules | None = None) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    top = Alignment(vertical="top")
    wrapped = Alignment(vertical="top", wrap_text=True)
    header_fill = PatternFill("solid", fgColor="DCE6F2")

    def put(sheet, r: int, c: int, value: Any, kind: str = TEXT):
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value) or None
        cell = sheet.cell(row=r, column=c, value=value)
        if cell.data_type == "f":  # a porteur's text starting with "=": text, never a formula
            cell.data_type = "s"
        if kind == AMOUNT:
            cell.number_format = AMOUNT_FORMAT
        elif kind == DATE:
            cell.number_format = DATE_FORMAT
        elif kind == NUMBER:
            cell.number_format = "0"
        cell.alignment = wrapped if kind == LONG else top
        return cell

    def width(value: Any, kind: str) -> int:
        if kind == AMOUNT:
            return 12
        if kind in (DATE, NUMBER):
            return 10
        return max((len(line) for line in str(value or "").splitlines()), default=0)

    def headers(sheet, titles: Iterable[str]) -> None:
        for c, title in enumerate(titles, 1):
            cell = put(sheet, 1, c, title)
            cell.font, cell.fill = bold, header_fill
            cell.alignment = Alignment(vertical="top", wrap_text=True)

    def print_setup(sheet, fit_width: int | None = 1) -> None:
        """Landscape A4, the header row on every page; `fit_width` pages wide, or (None) at 70 %
        over as many pages as it takes, the first columns repeated on each."""
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        if fit_width is None:
            sheet.page_setup.scale = 70
            sheet.print_title_cols = "A:C"
        else:
            sheet.sheet_properties.pageSetUpPr.fitToPage = True
            sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = fit_width, 0
        sheet.print_title_rows = "1:1"
        sheet.print_options.gridLines = True
        sheet.page_margins.left = sheet.page_margins.right = 0.4
        sheet.page_margins.top = sheet.page_margins.bottom = 0.8  # the header and footer clear of the table
        sheet.page_margins.header = sheet.page_margins.footer = 0.3
        sheet.oddFooter.center.text = "&A — page &P / &N"
        sheet.oddHeader.center.text = "Cité éducative de Liévin — dossiers pour la troïka"

    def table(sheet, cols: tuple[Column, ...], widest: dict[str, int]) -> None:
        """A header row, a row per dossier, a total of each amount column (of the rows the filter shows)."""
        widths = [min(len(c.header), 12) for c in cols]  # headers wrap
        headers(sheet, [c.header for c in cols])
        for r, values in enumerate(rows, 2):
            for c, col in enumerate(cols, 1):
                put(sheet, r, c, values.get(col.key), col.kind)
                widths[c - 1] = max(widths[c - 1], width(values.get(col.key), col.kind))
        for c, (col, w) in enumerate(zip(cols, widths), 1):
            limit = widest.get(col.key, 24 if col.kind == LONG else 16)
            sheet.column_dimensions[get_column_letter(c)].width = min(max(w + 1, 8), limit)
            if col.kind in (TEXT, LONG):
                for cell in sheet[get_column_letter(c)][1:]:
                    cell.alignment = wrapped
        # Row heights from the wrapped lines: spreadsheets do not grow rows written by a program.
        for r in range(1, len(rows) + 2):
            lines = 1
            for c, col in enumerate(cols, 1):
                value = sheet.cell(row=r, column=c).value
                if isinstance(value, str):
                    room = max(sheet.column_dimensions[get_column_letter(c)].width - 1, 1)
                    lines = max(lines, sum(-(-max(len(line), 1) // int(room)) for line in value.splitlines()))
            sheet.row_dimensions[r].height = min(13 * lines + 2, 200)
        sheet.freeze_panes = "C2"  # the header row, the reference and the status stay in view
        last = len(rows) + 1
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{last}"
        if rows:
            total_row = last + 2
            put(sheet, total_row, 1, "Total").font = bold
            for c, col in enumerate(cols, 1):
                if col.kind == AMOUNT:
                    letter = get_column_letter(c)
                    cell = sheet.cell(row=total_row, column=c, value=f"=SUBTOTAL(9,{letter}2:{letter}{last})")
                    cell.number_format, cell.font = AMOUNT_FORMAT, bold

    book = Workbook()
    every = columns(rules or load_rules(), years_of(rows))
    # What the meeting reads on paper, one landscape A4 page wide and legible; everything else
    # is on "Dossiers", which prints over several pages (reference, status and title on each).
    summary = book.active
    summary.title = "Troïka"
    table(summary, tuple(c for c in every if c.key in TROIKA_KEYS), {"intitule": 34, "structure": 24})
    print_setup(summary)
    sheet = book.create_sheet("Dossiers")
    table(sheet, every, {"description": 40})
    print_setup(sheet, fit_width=None)

    sums = book.create_sheet("Totaux")
    headers(sums, TOTALS_HEADERS)
    r = 2
    for heading, lines in totals.items():
        for line in lines:
            put(sums, r, 1, TOTAL_HEADINGS.get(heading, heading))
            put(sums, r, 2, line.label)
            put(sums, r, 3, line.dossiers)
            put(sums, r, 4, line.sollicite, AMOUNT)
            put(sums, r, 5, line.accorde, AMOUNT)
            r += 1
    put(sums, r + 1, 1, TOTALS_NOTE).font = Font(italic=True)
    for letter, w in zip("ABCDE", (22, 60, 10, 20, 20)):
        sums.column_dimensions[letter].width = w
    sums.freeze_panes = "A2"
    print_setup(sums)
    book.save(path)


def csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == AMOUNT:
        return f"{value:.2f}".replace(".", ",")
    if kind == DATE:
        return format_date(value)
    text = str(value)
    return "'" + text if text.startswith(CSV_FORMULA_STARTS) else text


def write_csv(path: Path, rows: list[dict[str, Any]], rules: Rules | None = None) -> None:
    cols = columns(rules or load_rules(), years_of(rows))
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f, delimiter=";", quoting=csv.QUOTE_MINIMAL)
        out.writerow([c.header for c in cols])
        for values in rows:
            out.writerow([csv_value(values.get(c.key), c.kind) for c in cols])


SUFFIXES = (".xlsx", ".csv")


def export(path: Path, dossiers: Iterable[Dossier], rules: Rules) -> int:
    """Write the file the suffix asks for; the number of dossiers written."""
    data = rows(dossiers, rules)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        write_xlsx(path, data, totals(data), rules)
    elif suffix == ".csv":
        write_csv(path, data, rules)
    else:
        raise ValueError(suffix)
    return len(data)
