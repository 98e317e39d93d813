"""Who may change a dossier, and to whom the bot answers (security.md).

A dossier belongs to its known addresses: the sender and the référent of its first
version, and those of each later version once confirmed. From any other address a
version or a bilan naming the dossier changes nothing until a known address (or a
coordinator) confirms it. Answers go to From; Reply-To only within From's domain or
for a known address. Pure: addresses and fields in, answers out."""

from __future__ import annotations

from collections.abc import Iterable

from bot.config import Config
from bot.mail.addresses import address_key, domain_of
from bot.text import normalize


def keys(addresses: Iterable[str | None]) -> list[str]:
    """The distinct address keys of `addresses`, in order, empty ones left out."""
    return list(dict.fromkeys(k for k in (address_key(a) for a in addresses) if k))


def first_known(sender: str | None, fields: dict) -> list[str]:
    """A new dossier's known addresses: its sender and its référent."""
    return keys([sender, fields.get("referent_email")])


def with_version(known: list[str], sender: str | None, fields: dict) -> list[str]:
    """The known addresses once a version from `sender` is confirmed."""
    return keys([*known, sender, fields.get("referent_email")])


def coordinators(cfg: Config) -> set[str]:
    """The mailboxes' coordinators and `[coordination] extra` (coordinators.md)."""
    return {address_key(c) for c in cfg.coordinator_addresses}


def is_known(known: Iterable[str], address: str | None, cfg: Config) -> bool:
    """May `address` change a dossier whose known addresses are `known`? Coordinators may."""
    key = address_key(address)
    return bool(key) and (key in set(known) or key in coordinators(cfg))


def another_project(current: dict, new: dict) -> bool:
    """A fiche naming someone else's dossier is a new dossier when it is another project:
    another intitulé and another structure (case, accents and punctuation ignored)."""
    def differs(key: str) -> bool:
        return normalize(str(current.get(key) or "")) != normalize(str(new.get(key) or ""))

    return differs("intitule") and differs("structure")


def answer_address(from_addr: str | None, reply_to: str | None, known: Iterable[str] = ()) -> str | None:
    """Where an answer goes: From, or its Reply-To when it is in From's domain or known
    for the dossier (never a third party an attacker names)."""
    if reply_to and from_addr and (domain_of(reply_to) == domain_of(from_addr) or address_key(reply_to) in set(known)):
        return reply_to
    return from_addr or None
