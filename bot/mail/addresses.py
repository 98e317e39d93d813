"""One key per mailbox behind an address, for trust and limits (security.md).

`Camille.Martin+aap@Example.org` and `camille.martin@example.org` reach the same
person: the case of the whole address and a `+tag` after the local part do not
make another correspondent. Pure."""

from __future__ import annotations


def address_key(address: str | None) -> str:
    """Lower case, without `+tag` and angle brackets; "" for no address."""
    bare = (address or "").strip().strip("<>").strip().lower()
    local, at, domain = bare.rpartition("@")
    if not at:
        return bare
    return f"{local.split('+', 1)[0] or local}@{domain}"


def domain_of(address: str | None) -> str:
    return address_key(address).rpartition("@")[2]
