"""Find the form's fields in a document: which label is where, and its raw text.

Understands the template (two-column tables), "Label : value" in one cell or one
paragraph, a label paragraph followed by its value paragraphs, reordered and
extra rows, vertically merged label cells, the materiel table (found by its
header row) and year rows of the repartition. Values stay raw text here;
bot.form.interpret gives them types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.form.layout import CHECKED, UNCHECKED, Block, Cell, Para, Table
from bot.form.marks import segments
from bot.rules import Rules
from bot.text import normalize

_YEAR_CELL = re.compile(r"^\D{0,20}?((?:19|20)\d{2})\s*[:\-–]?\s*$")
_MARK_ONLY = re.compile(r"^\s*(?:[xX]|☒|☑|✓|✔|■|✗|✘|\[\s*[xX]\s*\]|\(\s*[xX]\s*\))\s*$")
# Read from paragraphs, a text field runs to the next label, heading or table;
# a list (options, codes, years) to the first empty line; a single value
# written on its label line ("Date de début : 01/09/2026") takes nothing more.
_MULTILINE_TYPES = ("text",)
_SINGLE_VALUE_TYPES = ("email", "phone", "integer", "date", "amount")
HEADER_MAX = 60  # characters: longer cells are never column headers


@dataclass
class RawForm:
    occurrences: dict[str, list[list[str]]] = field(default_factory=dict)  # key -> lines per label found
    materiel: list[dict[str, str]] = field(default_factory=list)
    repartition: list[tuple[str, str]] = field(default_factory=list)  # (year, amount text)

    @property
    def labels_found(self) -> set[str]:
        return set(self.occurrences)

    def lines(self, key: str) -> list[str]:
        """The lines of the first occurrence of a label that has a value."""
        for lines in self.occurrences.get(key, []):
            if any(line.strip() for line in lines):
                return lines
        return []


@dataclass(frozen=True)
class LabelMatch:
    key: str
    rest: str  # text after "Label :" on the same line


class _Reader:
    def __init__(self, rules: Rules):
        self.rules = rules
        self.form = RawForm()
        self.current: list[str] | None = None  # lines of the label being read from paragraphs
        self.current_type = ""
        self.sentences = [(normalize(f.sentence), f.key) for f in rules.fields if f.sentence]
        self.yesno_words = {normalize(a): o.key for o in rules.options["yesno"] for a in o.aliases}
        self.materiel_headers = {
            normalize(alias): column for column, aliases in rules.materiel_columns.items() for alias in aliases
        }

    # -- labels -------------------------------------------------------------
    def match_label(self, line: str) -> LabelMatch | None:
        index = self.rules.label_index
        text = line.strip()
        if not text or len(text) > 400:
            return None
        if (key := index.get(normalize(text))) is not None:
            return LabelMatch(key, "")
        for m in re.finditer(r"[:：]", text):
            if (key := index.get(normalize(text[: m.start()]))) is not None:
                return LabelMatch(key, text[m.end() :].strip())
        # "☒ Je m'engage à faire figurer les logos et la mention « … »": the box is the answer.
        segs = segments(text)
        if segs and segs[0].marked is not None:
            body = normalize(segs[0].text)
            for sentence, key in self.sentences:
                if body.startswith(sentence):
                    return LabelMatch(key, "Oui" if segs[0].marked else "Non")
        return None

    def start(self, match: LabelMatch) -> list[str]:
        lines = [match.rest] if match.rest else []
        self.form.occurrences.setdefault(match.key, []).append(lines)
        return lines

    # -- paragraphs ---------------------------------------------------------
    def paragraph(self, text: str, heading: bool = False) -> None:
        match = self.match_label(text)
        if heading and match is None:
            self.current = None
            return
        if match:
            # A label written as a heading ("Intitulé du projet" in Titre 2) is a
            # label all the same: its value is in the paragraphs below.
            lines = self.start(match)
            field_type = self.rules.field(match.key).type
            self.current = None if (field_type in _SINGLE_VALUE_TYPES and match.rest) else lines
            self.current_type = field_type
            return
        if self.current is None:
            return
        if not text.strip():
            if self.current_type not in _MULTILINE_TYPES and self.current:
                self.current = None
            elif self.current:
                self.current.append("")
            return
        self.current.append(text)

    # -- tables -------------------------------------------------------------
    def table(self, table: Table) -> None:
        self.current = None
        last: list[str] | None = None
        materiel_columns: dict[int, str] | None = None
        yesno_columns: dict[int, str] | None = None
        for row in table.rows:
            cells = row.cells
            texts = [c.text.strip() for c in cells]
            if header := self._materiel_header(texts):
                materiel_columns = header
                continue
            first = self._label_of(cells[0]) if cells else None
            if materiel_columns is not None and first is None:
                self._materiel_row(texts, materiel_columns)
                continue
            materiel_columns = None
            if cells and cells[0].continued and last is not None:
                last.extend(line for c in cells[1:] for line in c.lines)
                continue
            if len(cells) >= 2 and (m := _YEAR_CELL.match(texts[0])):
                amount = " ".join(t for t in texts[1:] if t)
                if amount:
                    self.form.repartition.append((m[1], amount))
                continue
            if header := self._yesno_header(texts):
                yesno_columns = header
                continue
            if first is not None:
                match, rest_of_cell = first
                last = self.start(match)
                last.extend(rest_of_cell)
                if yesno_columns and len(cells) > 1 and self.rules.field(match.key).type == "yesno":
                    last.extend(self._yesno_marks(texts, yesno_columns))
                else:
                    last.extend(line for c in cells[1:] for line in c.lines)
                continue
            last = None
            for cell in cells:  # "Label : value" lines inside cells
                self.current = None
                for line in cell.lines:
                    self.paragraph(line)
            self.current = None

    def _label_of(self, cell: Cell) -> tuple[LabelMatch, list[str]] | None:
        """A label cell: its first line, or all of it, is a label."""
        lines = [line for line in cell.lines if line.strip()]
        if not lines:
            return None
        if match := self.match_label(lines[0]):
            # Lines after a bare label are hints ("(titre court)"); after "Label : value", more value.
            return match, (lines[1:] if match.rest else [])
        if len(lines) > 1 and (match := self.match_label(" ".join(lines))):
            return match, []
        return None

    def _materiel_header(self, texts: list[str]) -> dict[int, str] | None:
        # Header cells are short: long cells (a description) are not worth normalizing.
        columns = {i: self.materiel_headers.get(normalize(t)) for i, t in enumerate(texts) if len(t) <= HEADER_MAX}
        columns = {i: c for i, c in columns.items() if c}
        if {"designation", "prix_unitaire_ht"} <= set(columns.values()):
            return columns
        return None

    def _materiel_row(self, texts: list[str], columns: dict[int, str]) -> None:
        line = {column: texts[i] if i < len(texts) else "" for i, column in columns.items()}
        if not any(line.values()) or normalize(line.get("designation", "")).startswith(("total", "sous total")):
            return
        self.form.materiel.append(line)

    def _yesno_header(self, texts: list[str]) -> dict[int, str] | None:
        """A row "│ Oui │ Non" announcing columns in which an X answers."""
        if texts and texts[0]:
            return None
        columns = {i: self.yesno_words.get(normalize(t)) for i, t in enumerate(texts)
                   if i > 0 and t and len(t) <= HEADER_MAX}
        if len(columns) >= 2 and all(columns.values()):
            return columns
        return None

    def _yesno_marks(self, texts: list[str], columns: dict[int, str]) -> list[str]:
        labels = {o.key: o.label for o in self.rules.options["yesno"]}
        out = []
        for i, key in columns.items():
            if i < len(texts) and texts[i]:
                marked = _MARK_ONLY.match(texts[i]) is not None or CHECKED in texts[i]
                out.append(f"{CHECKED if marked else UNCHECKED} {labels[key]}")
        return out


def read_blocks(blocks: list[Block], rules: Rules) -> RawForm:
    reader = _Reader(rules)
    for block in blocks:
        if isinstance(block, Para):
            for line in block.text.split("\n"):
                reader.paragraph(line, block.heading)
        else:
            reader.table(block)
    return reader.form
