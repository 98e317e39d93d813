r"""Word field codes that fetch from the network when the document is opened.

A field is an instruction Word evaluates: `PAGE`, `DATE`, `MERGEFIELD nom`…
Some fetch what they show from a file or an address: Word writes a picture
pasted from a web page as

    INCLUDEPICTURE "https://example.org/logo.png" \* MERGEFORMATINET \d

and updates it, that is fetches it, when the file is opened. Pointed at
`\\host\share`, the same field makes Windows send the coordinator's
credentials to that host. Those fields are refused like the external
relationships (docxfile), with the same rule for what is remote (netpaths).

A field is written either as `w:fldSimple w:instr="…"` or as a "complex"
field: runs holding `w:fldChar begin`, the instruction in one or more
`w:instrText` (Word splits it across runs freely), `w:fldChar separate`, the
last result, `w:fldChar end`. Fields nest: the instruction of one may hold
another field, whose result becomes part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from bot.form.netpaths import is_network_target, mentions_network_target

_W = ("http://schemas.openxmlformats.org/wordprocessingml/2006/main",  # transitional
      "http://purl.oclc.org/ooxml/wordprocessingml/main")  # strict
_TAGS = [f"{{{ns}}}{name}" for ns in _W for name in ("fldChar", "instrText", "delInstrText", "fldSimple")]

# Fields that show the content of another file or program; the argument that
# names it, by position (LINK Excel.Sheet.12 "C:\\budget.xlsx" "Feuil1!L1C1").
_SOURCE_ARGUMENT = {
    "INCLUDEPICTURE": 0, "IMPORT": 0,  # IMPORT: the old name of INCLUDEPICTURE
    "INCLUDETEXT": 0, "INCLUDE": 0,  # INCLUDE: the old name of INCLUDETEXT
    "RD": 0,  # a document whose headings go into a table of contents
    "LINK": 1, "DDE": 1, "DDEAUTO": 1,
}
_SOURCE_SWITCH = {"DATABASE": "d"}  # DATABASE \d "\\srv\base.mdb" \c "…" \s "SELECT …"
# Fields whose addresses Word never fetches by itself: a hyperlink is followed
# only when clicked (as hyperlink relationships, accepted); ADDIN holds an
# add-in's private data, e.g. the item URIs of Zotero and Mendeley citations.
_NEVER_FETCHED = {"HYPERLINK", "ADDIN"}

NESTED = "\ufffc"  # stands in an instruction for the result of a field nested in it
_KEYWORD = re.compile(r"\s*([A-Za-z]+)")
_ARGUMENT = re.compile(r'"((?:[^"\\]|\\.)*)"?|(\S+)')
_SWITCH = re.compile(r"\\[A-Za-z*#@!]$")  # \d, \* MERGEFORMAT… (a UNC path starts with two)


@dataclass
class FieldCode:
    instruction: str  # as Word reads it, NESTED where an inner field's result goes
    parts: list[str] = field(default_factory=list, repr=False)
    in_instruction: bool = True  # False after fldChar separate: what follows is the result

    @property
    def keyword(self) -> str:
        """INCLUDEPICTURE, PAGE…; empty when Word computes it from a nested field."""
        match = _KEYWORD.match(self.instruction)
        return match.group(1).upper() if match else ""


def field_codes(root: etree._Element) -> Iterator[FieldCode]:
    """Every field instruction of one part (document, header, footnotes…), in order.

    Instruction text outside a field, and a field without its end, are still
    given: Word is lenient with broken field markup, so this reader is too."""
    stack: list[FieldCode] = []
    for el in root.iter(_TAGS):
        kind = etree.QName(el)
        if kind.localname == "fldSimple":
            yield FieldCode(el.get(f"{{{kind.namespace}}}instr") or "")
        elif kind.localname == "fldChar":
            char = el.get(f"{{{kind.namespace}}}fldCharType")
            if char == "begin":
                if stack and stack[-1].in_instruction:
                    stack[-1].parts.append(NESTED)
                stack.append(FieldCode(""))
            elif char == "separate" and stack:
                stack[-1].in_instruction = False
            elif char == "end" and stack:
                yield _finished(stack.pop())
        elif stack and stack[-1].in_instruction:
            stack[-1].parts.append(el.text or "")
        else:
            yield FieldCode(el.text or "")
    while stack:
        yield _finished(stack.pop())


def _finished(code: FieldCode) -> FieldCode:
    code.instruction = "".join(code.parts)
    return code


def _arguments(instruction: str) -> list[tuple[str, str]]:
    """(switch it follows or "", argument) for each argument after the keyword;
    quoted arguments unescaped as Word does (\\ is one backslash, \" a quote)."""
    found, switch = [], ""
    for match in _ARGUMENT.finditer(instruction):
        quoted, bare = match.group(1), match.group(2)
        if bare is not None and _SWITCH.match(bare):
            switch = bare[1:].lower()
            continue
        text = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        found.append((switch, text))
        switch = ""
    return found[1:]  # the keyword itself


def fetches_from_network(code: FieldCode) -> bool:
    """Would Word fetch something from another machine to show this field?"""
    if code.instruction.lstrip().startswith(NESTED):
        # The keyword itself computed by a nested field: "{ QUOTE 73 78 67 … }"
        # spells INCLUDEPICTURE, a known way to hide a field from scanners.
        return True
    keyword = code.keyword
    if keyword in _NEVER_FETCHED:
        return False
    if keyword in _SOURCE_ARGUMENT or keyword in _SOURCE_SWITCH:
        # Its file computed by a nested field (a DOCPROPERTY, a QUOTE…): where
        # Word will look is known only when it looks, so it is not accepted.
        if NESTED in code.instruction:
            return True
        arguments = _arguments(code.instruction)
        positional = [text for switch, text in arguments if not switch]
        if keyword in _SOURCE_ARGUMENT:
            position = _SOURCE_ARGUMENT[keyword]
            sources = positional[position:position + 1]
        else:
            sources = [text for switch, text in arguments if switch == _SOURCE_SWITCH[keyword]]
        if any(is_network_target(source) for source in sources):
            return True
    # Any other field naming a URL or a UNC path.
    return mentions_network_target(code.instruction)


def network_field(root: etree._Element) -> str | None:
    """The keyword of the first field of this part that fetches from the network, or None."""
    for code in field_codes(root):
        if fetches_from_network(code):
            return code.keyword or "?"
    return None
