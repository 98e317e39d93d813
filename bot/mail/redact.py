"""Mail servers' texts made fit for the logs: their addresses masked.

A refusal quotes the recipient (« 550 5.1.1 <camille.martin@example.org>:
Recipient address rejected »), a failed login may quote the account. The logs
at INFO, WARNING and ERROR carry no address, name or subject (security.md), so
such a text is logged with each address replaced by ADDRESS; its code and the
rest of its words stay, for the operator. The whole text is kept where the
coordinators look (the outbox row's last_error, `dossiers show`) and in the
DEBUG log (`-v`).
"""

from __future__ import annotations

import re

ADDRESS = "[address]"

_ATOM = r"""[^\s<>()\[\]{},;:"`@]"""
# user@domain, "quoted local part"@domain, and user@[192.0.2.1]; any script
# (an address may be written with accents, RFC 6531), apostrophes included
# (jean.d'arc@…).
_ADDRESS = re.compile(rf'(?:{_ATOM}+|"(?:[^"\\]|\\.)*")@(?:{_ATOM}+|\[[^\]\s]*\])')


def without_addresses(text: object) -> str:
    """str(text) with every e-mail address in it replaced by ADDRESS."""
    return _ADDRESS.sub(ADDRESS, str(text))
