"""Whether our own receiving server vouches for a message: its Authentication-Results (RFC 8601).

Pure: the values of a message's Authentication-Results headers and our server's
authserv-id (`bot.authserv_id`) in, a verdict out:

- "pass": our server wrote dkim=pass or dmarc=pass, and none of its results failed;
- "fail": our server wrote a failure for dkim or dmarc (fail, permerror, policy), even
  next to a pass in the same or another of its headers;
- "none": anything else: no header of ours, dkim=none, neutral, temperror, "none"…

Only the headers whose authserv-id is ours count: RFC 8601 (section 5) has a receiving
server remove the headers that carry its own id before adding its own, so a header
with our id was written by our server, and any other was written by someone else, the
sender included. What counts is decided here, failing closed: an avis of the IEN (and,
later, a coordinator's command) is applied on "pass" alone.
"""

from __future__ import annotations

from collections.abc import Iterable

PASS, FAIL, NONE = "pass", "fail", "none"
METHODS = ("dkim", "dmarc")
# The dkim and dmarc results (RFC 8601 2.7.1, RFC 7489 11.2) that say a signature or a policy failed,
# or is broken for good: the message is not known to come from its From.
FAILURES = {"fail", "permerror", "policy"}


def _without_comments(value: str) -> str:
    """The value without its (comments), nested ones included; quoted strings kept whole. Linear."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:  # the character after a backslash, in a quoted string or a comment
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == "(":
            depth += 1
            continue
        elif char == ")" and depth:
            depth -= 1
            continue
        elif char == '"' and not depth:
            quoted = True
        if not depth:
            out.append(char)
    return "".join(out)


def _statements(value: str) -> list[str]:
    """The value split on the semicolons outside quoted strings (a reason="…; …" is one)."""
    pieces, current = [], []
    quoted, escaped = False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def results(values: Iterable[str], authserv_id: str) -> list[tuple[str, str]]:
    """(method, result) of every dkim and dmarc result the server `authserv_id` wrote, in order,
    lower case: [("dkim", "pass"), ("dmarc", "none")]. Headers of other servers are skipped."""
    ours = authserv_id.strip().lower()
    found: list[tuple[str, str]] = []
    if not ours:
        return found
    for value in values:
        head, *resinfo = _statements(_without_comments(value))
        words = head.split()  # "mx.ac-lille.fr", or "mx.ac-lille.fr 1" with the RFC 8601 version
        if not words or words[0].strip('"').lower() != ours:
            continue
        for statement in resinfo:
            method, equals, rest = statement.partition("=")
            method = method.strip().lower().split("/")[0].strip()  # "dkim/1" is a method's version
            result = rest.split()[0].lower() if equals and rest.split() else ""
            if method in METHODS and result:
                found.append((method, result))
    return found


def verdict(values: Iterable[str], authserv_id: str) -> str:
    """PASS, FAIL or NONE for the Authentication-Results `values` of a message (see the module)."""
    found = [result for _, result in results(values, authserv_id)]
    if any(result in FAILURES for result in found):
        return FAIL
    return PASS if PASS in found else NONE
