"""Our server's Authentication-Results, read fail closed (bot/mail/authentication.py; RFC 8601)."""

from __future__ import annotations

import time

import pytest

from bot.mail.authentication import FAIL, NONE, PASS, results, verdict

OURS = "mx.ac-lille.fr"


@pytest.mark.parametrize(("headers", "expected"), [
    # what our server vouches for
    (["mx.ac-lille.fr; dkim=pass header.d=ac-lille.fr header.s=mail; spf=pass; dmarc=pass header.from=ac-lille.fr"],
     PASS),
    (["mx.ac-lille.fr; dkim=none; spf=pass smtp.mailfrom=ac-lille.fr; dmarc=pass (p=quarantine) header.from=ac-lille.fr"],
     PASS),
    (["mx.ac-lille.fr; dkim=pass header.d=ac-lille.fr; dmarc=none"], PASS),
    (["MX.AC-Lille.FR 1; DKIM/1 = Pass (2048-bit key) header.d=ac-lille.fr"], PASS),  # case, versions
    (['"mx.ac-lille.fr"; dkim=pass reason="bonne signature; clé 2048 bits"'], PASS),  # quoted id and reason
    (["mx.ac-lille.fr (Postfix) ; dkim=pass", "evil.example; dkim=fail; dmarc=fail"], PASS),  # others ignored
    # no verdict of ours: refused
    ([], NONE),
    (["evil.example; dkim=pass header.d=ac-lille.fr; dmarc=pass"], NONE),  # someone else's header
    (["mx.ac-lille.fr.evil.example; dkim=pass; dmarc=pass"], NONE),  # a look-alike id
    (["evil.example; x=1 mx.ac-lille.fr; dkim=pass"], NONE),
    (["mx.ac-lille.fr; none"], NONE),  # RFC 8601: nothing was checked
    (["mx.ac-lille.fr; dkim=none; spf=pass; dmarc=none"], NONE),  # spf alone proves nothing of the From
    (["mx.ac-lille.fr; dkim=neutral (bad format) header.d=ac-lille.fr"], NONE),
    (["mx.ac-lille.fr; dkim=temperror; dmarc=temperror"], NONE),
    (["mx.ac-lille.fr; dkim=none (dkim=pass written in a comment) header.d=ac-lille.fr"], NONE),
    (["mx.ac-lille.fr; dkim=none reason=\"dkim=pass; dmarc=pass\""], NONE),  # inside a quoted reason
    (["mx.ac-lille.fr; arc=pass; spf=pass"], NONE),
    # a failure from our server, whatever else is said
    (["mx.ac-lille.fr; dkim=fail header.d=ac-lille.fr; dmarc=fail"], FAIL),
    (["mx.ac-lille.fr; dkim=none; dmarc=fail header.from=ac-lille.fr"], FAIL),
    (["mx.ac-lille.fr; dkim=pass header.d=list.example; dkim=fail header.d=ac-lille.fr"], FAIL),
    (["mx.ac-lille.fr; dkim=pass; dmarc=pass", "mx.ac-lille.fr; dkim=fail"], FAIL),  # several of ours
    (["mx.ac-lille.fr; dkim=permerror (no key)"], FAIL),
    (["mx.ac-lille.fr; dkim=policy; dmarc=pass"], FAIL),
])
def test_only_our_servers_pass_without_any_failure_is_a_pass(headers, expected):
    assert verdict(headers, OURS) == expected


def test_without_an_authserv_id_nothing_is_ours():
    assert verdict(["mx.ac-lille.fr; dkim=pass; dmarc=pass"], "") == NONE
    assert verdict(["; dkim=pass"], " ") == NONE


def test_results_says_what_our_server_wrote_in_order():
    assert results(["mx.ac-lille.fr; dkim=none; spf=fail; dmarc=fail (p=reject)",
                    "other.example; dkim=pass",
                    "mx.ac-lille.fr; dkim=pass"], OURS) == [("dkim", "none"), ("dmarc", "fail"), ("dkim", "pass")]


def test_a_megabyte_of_forged_headers_costs_linear_time():
    forged = ["mx.ac-lille.fr; dkim=none " + "(((" * 100_000 + "x" * 700_000] + ["evil; dkim=pass"] * 20_000
    started = time.perf_counter()
    assert verdict(forged, OURS) == NONE
    assert time.perf_counter() - started < 3
