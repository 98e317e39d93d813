"""Parsers for the values porteurs type: amounts, dates, numbers, phones, emails.

Pure functions: text in, Python value out, ValueError when the text cannot be
understood. They accept what French people write, not what a machine would.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.text import normalize

CENT = Decimal("0.01")

_CURRENCY_WORDS = re.compile(r"(?i)€|euros?|eur\b|\bht\b|\bttc\b|\bnet\b|toutes\s+taxes\s+comprises|hors\s+taxes")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']+")


def parse_amount(text: str) -> Decimal:
    """'1 234,56 €', '1.234,56', '1234.56', '1 500 € HT', '500€' -> Decimal('1234.56')."""
    s = _SPACES.sub("", _CURRENCY_WORDS.sub("", text))
    s = s.rstrip(".,-")  # "1 500,-" and "500 €." are common
    if not re.fullmatch(r"\d[\d.,]*", s):
        raise ValueError(text)
    if "," in s and "." in s:
        # The last separator is the decimal one; the other groups thousands.
        decimal_sep = "," if s.rfind(",") > s.rfind(".") else "."
        s = s.replace("." if decimal_sep == "," else ",", "").replace(decimal_sep, ".")
    elif "," in s:
        if s.count(",") > 1:
            s = s.replace(",", "")  # "1,500,000" written the English way
        else:
            s = s.replace(",", ".")
    elif "." in s:
        # "1.500" is French for fifteen hundred; "1234.56" a decimal amount.
        if s.count(".") > 1 or re.fullmatch(r"\d{1,3}\.\d{3}", s):
            s = s.replace(".", "")
    if s.count(".") > 1:
        raise ValueError(text)
    try:
        value = Decimal(s).quantize(CENT)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    return value


_TAX_INCLUDED = re.compile(r"(?i)\bttc\b|toutes\s+taxes\s+comprises")


def is_tax_included(text: str) -> bool:
    """'550 € TTC', '550 toutes taxes comprises': a price that includes VAT."""
    return _TAX_INCLUDED.search(text) is not None


def format_percent(rate: Decimal) -> str:
    """Decimal('0.20') -> '20 %', Decimal('0.055') -> '5,5 %' (narrow no-break space)."""
    shown = f"{(rate * 100).normalize():f}".replace(".", ",")
    return shown + "\u202f%"


def format_amount(value: Decimal, cents: bool = True) -> str:
    """Decimal('1234.5') -> '1 234,50 €' (French typography, non-breaking spaces);
    with cents=False a whole amount drops them: Decimal('500') -> '500 €'."""
    whole, fraction = f"{value.quantize(CENT):,.2f}".split(".")
    shown = whole.replace(",", "\u202f") + ("" if not cents and fraction == "00" else "," + fraction)
    return shown + "\u00a0€"


_MONTHS = {
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4,
    "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "sept": 9,
    "octobre": 10, "oct": 10, "novembre": 11, "nov": 11, "decembre": 12, "dec": 12,
}
_NUMERIC_DMY = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4}|\d{2})")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_WORDS = re.compile(r"(?:(\d{1,2})(?:er)?\s+)?([a-z]+)\s+(\d{4})")


def parse_date(text: str, bound: str = "start") -> date:
    """French dates; a month alone gives its first day (start) or last day (end)."""
    s = text.strip()
    if m := _ISO.search(s):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := _NUMERIC_DMY.search(s):
        year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
        return date(year, int(m[2]), int(m[1]))
    for m in _WORDS.finditer(normalize(s)):
        month = _MONTHS.get(m[2])
        if month is None:
            continue
        year = int(m[3])
        if m[1]:
            return date(year, month, int(m[1]))
        day = 1 if bound == "start" else calendar.monthrange(year, month)[1]
        return date(year, month, day)
    raise ValueError(text)


def format_date(value: date) -> str:
    """date(2026, 9, 1) -> '01/09/2026', the way porteurs write it."""
    return value.strftime("%d/%m/%Y")


_INTEGER = re.compile(r"\d{1,3}(?:[\s\u00a0\u202f]\d{3})+(?!\d)|\d+")


def parse_positive_int(text: str) -> int:
    """'environ 60' -> 60; '1 200 élèves' -> 1200. Zero is not a number of people."""
    m = _INTEGER.search(text)
    if not m:
        raise ValueError(text)
    value = int(_SPACES.sub("", m[0]))
    if value <= 0:
        raise ValueError(text)
    return value


def parse_phone(text: str) -> str:
    """French numbers, normalised to '03 21 70 60 20' or '+33 3 21 70 60 20'."""
    digits = re.sub(r"[^\d+]", "", text.replace("(0)", ""))
    if digits.startswith("0033"):
        digits = "+33" + digits[4:]
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if re.fullmatch(r"\+33[1-9]\d{8}", digits):
        rest = digits[3:]
        return "+33 " + rest[0] + " " + " ".join(rest[i : i + 2] for i in range(1, 9, 2))
    raise ValueError(text)


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")


def parse_email(text: str) -> str:
    """The one address in the text ('mailto:' and surrounding words tolerated)."""
    found = _EMAIL.findall(text.replace("mailto:", " "))
    if len(set(a.lower() for a in found)) != 1:
        raise ValueError(text)
    return found[0]
