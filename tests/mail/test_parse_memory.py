"""Reading a large message costs a bounded multiple of its size: parse.py gives what the stdlib
gives (`email.message_from_bytes`, `Message.get_payload(decode=True)`) without their copies of
the whole message. The stdlib is the oracle here, on the fixtures, on mutated fixtures and on
random base64, and tracemalloc measures what a message of 8 MB costs."""

from __future__ import annotations

import base64
import email
import email.policy
import os
import random
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_parse import mutate

from bot.mail.parse import PARSE_PIECE, decoded_payload, message_from_bytes, parse_message

EML = Path(__file__).resolve().parents[1] / "eml"
FIXTURES = sorted(EML.rglob("*.eml"))
POLICIES = [email.policy.default, email.policy.compat32]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def shape(msg) -> tuple:
    """Everything the parser decided about a message tree, part by part."""
    payload = msg.get_payload()
    if isinstance(payload, list):
        inner = tuple(shape(p) if isinstance(p, email.message.Message) else repr(p) for p in payload)
    else:
        inner = payload
    return (tuple(msg.raw_items()), msg.get_unixfrom(), tuple(type(d).__name__ for d in msg.defects),
            msg.preamble, msg.epilogue, inner)


def padded(raw: bytes) -> bytes:
    """A fixture with a body long enough to cross several pieces of PARSE_PIECE, a CR LF astride one."""
    filler = b"x" * (PARSE_PIECE - 1) + b"\r\n" + b"y" * 3 * PARSE_PIECE + b"\r\n"
    head, sep, body = raw.partition(b"\n\n")
    return head + sep + filler + body if sep else raw + filler


def test_the_fixtures_are_there():
    assert len(FIXTURES) > 40


def test_message_from_bytes_gives_the_stdlib_tree_for_every_fixture():
    for path in FIXTURES:
        for raw in (path.read_bytes(), padded(path.read_bytes())):
            for policy in POLICIES:
                assert shape(message_from_bytes(raw, policy)) == shape(email.message_from_bytes(raw, policy=policy)), path


@SETTINGS
@given(st.sampled_from(FIXTURES), st.integers(0, 2**32 - 1), st.integers(1, 60), st.sampled_from(POLICIES))
def test_message_from_bytes_gives_the_stdlib_tree_for_mutated_fixtures(path, seed, count, policy):
    raw = mutate(padded(path.read_bytes()), random.Random(seed), count)
    assert shape(message_from_bytes(raw, policy)) == shape(email.message_from_bytes(raw, policy=policy))


BASE64_TEXT = st.text(alphabet="ABCDEFabcdef0189+/=\r\n \t*é\x00", max_size=300)


def base64_part(body: str, cte: str = "base64") -> bytes:
    return (f"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
            ).encode() + body.encode("utf-8")


@SETTINGS
@given(BASE64_TEXT, st.sampled_from(["base64", "BASE64", " base64", "quoted-printable", ""]),
       st.sampled_from(POLICIES))
def test_decoded_payload_gives_the_stdlib_bytes_and_defects(body, cte, policy):
    ours, theirs = (email.message_from_bytes(base64_part(body, cte), policy=policy) for _ in range(2))
    assert decoded_payload(ours) == theirs.get_payload(decode=True)
    assert [type(d) for d in ours.defects] == [type(d) for d in theirs.defects]


def test_decoded_payload_of_real_base64_lines():
    data = os.urandom(10_000)
    for newline in (b"\r\n", b"\n", b"\r"):
        encoded = base64.encodebytes(data).replace(b"\n", newline).decode()
        part = email.message_from_bytes(base64_part(encoded), policy=email.policy.default)
        assert decoded_payload(part) == data and not part.defects


def big_message(attachment_bytes: int) -> bytes:
    """A message as a mail client sends it: a line of text and a file in base64 lines of 76."""
    data = os.urandom(attachment_bytes)
    return (b"From: Camille Martin <camille.martin@example.org>\r\nTo: l.marcq@lievin.fr\r\n"
            b"Subject: Fiche projet\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici la fiche.\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"photos.zip\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"--b--\r\n")


def test_a_large_message_is_read_in_less_than_four_times_its_size():
    raw = big_message(6 * 1024 * 1024)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        message = parse_message(raw)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    [attachment] = message.attachments
    assert attachment.size == 6 * 1024 * 1024 and not message.problems
    # email.message_from_bytes and get_payload(decode=True) themselves: 7.7 times.
    assert peak < 4 * len(raw), f"{peak / len(raw):.2f} times the message's size"
