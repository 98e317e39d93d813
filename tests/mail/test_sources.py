"""The sources' contract (bot/mail/sources.py), on a real Dovecot (seen through a counting proxy)
and a real Maildir: the sizes before the bodies, bodies in batches bounded by bytes and handed
over one batch at a time, a message over max_bytes never downloaded (its header only), and
since/before on the day a message was received."""

from __future__ import annotations

import os
import re
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest
from counting_proxy import CountingProxy

from bot.clock import PARIS
from bot.config import MailboxConfig
from bot.mail.sources import Fetched, ImapSource, MaildirSource, Sized, fetch_plan, header_block

KB = 1024


def message(n: int, size: int = 2 * KB) -> bytes:
    """Message n, `size` bytes long (CRLF lines, as IMAP counts them)."""
    head = (f"From: Porteur {n} <porteur{n}@example.org>\r\nTo: l.marcq@lievin.fr\r\n"
            f"Subject: Message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\r\n").encode()
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(head)) // len(line))
    return head + body + b"y" * (size - len(head) - len(body))


def imap_config(account, port: int) -> MailboxConfig:
    return MailboxConfig(name="ville", address="l.marcq@lievin.fr", kind="imap", host=account.host, port=port,
                         security="none", username=account.user, password=account.password,
                         coordinators=("l.marcq@lievin.fr",), timeout=10)


@pytest.fixture
def proxy(dovecot):
    with CountingProxy(dovecot.host, dovecot.port) as counting:
        yield counting


@pytest.fixture
def open_source(imap_user, proxy):
    """An ImapSource through the proxy, opened once the test's messages are in the mailbox (as
    each poll opens its own)."""
    opened = []

    def _open() -> ImapSource:
        opened.append(ImapSource(imap_config(imap_user, proxy.port), attempts=1))
        proxy.reset()  # what the tests look at starts after the login and the SELECT
        return opened[-1]

    yield _open
    for source in opened:
        source.close()


def fetches(proxy, item: bytes) -> list[list[int]]:
    """The UIDs of each FETCH the client sent for `item` (e.g. b"BODY.PEEK[]")."""
    found = []
    for line in proxy.commands():
        m = re.search(rb"UID FETCH ([\d,:]+) \((.*)\)", line)
        if m and item in m[2]:
            found.append([int(u) for u in m[1].split(b",")])
    return found


# -- the plan: pure ---------------------------------------------------------------------
def plan(sizes, max_bytes, batch_bytes):
    sized = [Sized(uid, size) for uid, size in enumerate(sizes, 1)]
    return [(whole, [s.uid for s in group]) for whole, group in fetch_plan(sized, max_bytes, batch_bytes)]


def test_bodies_are_planned_by_bytes_and_a_message_over_the_limit_alone_for_its_header():
    assert plan([10, 10, 30, 5, 100, 5, 5], max_bytes=50, batch_bytes=25) == [
        (True, [1, 2]), (True, [3]), (True, [4]), (False, [5]), (True, [6, 7])]


def test_a_message_larger_than_a_batch_is_fetched_alone_and_without_a_limit_nothing_is_too_large():
    assert plan([5, 40, 5, 100], max_bytes=None, batch_bytes=25) == [
        (True, [1]), (True, [2]), (True, [3]), (True, [4])]
    assert plan([], max_bytes=10, batch_bytes=25) == []
    assert plan([10, 10], max_bytes=10, batch_bytes=20) == [(True, [1, 2])]  # at the limit: downloaded


def test_the_header_block_ends_at_the_first_blank_line():
    assert header_block(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore") == b"A: 1\r\nB: 2\r\n\r\n"
    assert header_block(b"A: 1\nB: 2\n\nbody") == b"A: 1\nB: 2\n\n"
    assert header_block(b"A: 1\r\nB: 2") == b"A: 1\r\nB: 2"


# -- IMAP, on Dovecot ---------------------------------------------------------------------
def test_sizes_come_first_then_bodies_in_batches_bounded_by_bytes(dovecot, imap_user, proxy, open_source):
    raws = [message(1, 10 * KB), message(2, 10 * KB), message(3, 30 * KB), message(4, 5 * KB),
            message(5, 5 * KB)]
    uids = dovecot.append_many(imap_user.user, raws)
    source = open_source()
    source.batch_bytes = 25 * KB
    fetched = list(source.fetch_after(0))
    assert [(f.uid, f.raw, f.size) for f in fetched] == [(str(u), r, len(r)) for u, r in zip(uids, raws)]
    assert all(f.header == b"" and not f.too_large and f.received.tzinfo is not None for f in fetched)
    assert fetches(proxy, b"RFC822.SIZE") == [uids]
    assert fetches(proxy, b"BODY.PEEK[]") == [uids[:2], [uids[2]], uids[3:]]
    assert all("\\Seen" not in flags for flags in dovecot.flags(imap_user.user).values())


def test_each_batch_is_handed_over_before_the_next_one_is_downloaded(dovecot, imap_user, proxy, open_source):
    uids = dovecot.append_many(imap_user.user, [message(n, 10 * KB) for n in range(1, 5)])
    source = open_source()
    source.batch_bytes = 20 * KB
    messages = source.fetch_after(0)
    assert next(messages).uid == str(uids[0])
    assert fetches(proxy, b"BODY.PEEK[]") == [uids[:2]]
    assert next(messages).uid == str(uids[1])
    assert fetches(proxy, b"BODY.PEEK[]") == [uids[:2]]
    assert next(messages).uid == str(uids[2])
    assert fetches(proxy, b"BODY.PEEK[]") == [uids[:2], uids[2:]]


def test_a_message_over_max_bytes_is_never_downloaded_only_its_header(dovecot, imap_user, proxy, open_source):
    big = message(2, 3 * 1024 * KB)
    uids = dovecot.append_many(imap_user.user, [message(1), big, message(3)])
    fetched = list(open_source().fetch_after(0, max_bytes=1024 * KB))
    assert [(f.uid, f.too_large) for f in fetched] == [(str(uids[0]), False), (str(uids[1]), True),
                                                       (str(uids[2]), False)]
    large = fetched[1]
    assert large.raw is None and large.size == len(big)
    assert large.header == header_block(big) and large.header.endswith(b"<m2@example.org>\r\n\r\n")
    assert proxy.from_server < 64 * KB  # the sizes, two small bodies and a header: not 3 MB
    assert fetches(proxy, b"BODY.PEEK[]") == [[uids[0]], [uids[2]]]
    assert fetches(proxy, b"BODY.PEEK[HEADER]") == [[uids[1]]]
    assert dovecot.flags(imap_user.user) == {u: set() for u in uids}  # nothing read, nothing \Seen


def test_since_and_before_select_on_the_day_a_message_was_received(dovecot, imap_user, open_source):
    days = [datetime(2026, 11, day, 12, 0, tzinfo=PARIS) for day in (20, 25, 30)]
    uids = [dovecot.append(imap_user.user, message(n), msg_time=when) for n, when in enumerate(days, 1)]
    source = open_source()

    def taken(**window) -> list[str]:
        return [f.uid for f in source.fetch_after(0, **window)]

    assert taken() == [str(u) for u in uids]
    assert taken(since=date(2026, 11, 25)) == [str(u) for u in uids[1:]]
    assert taken(before=date(2026, 11, 30)) == [str(u) for u in uids[:2]]
    assert taken(since=date(2026, 11, 21), before=date(2026, 11, 30)) == [str(uids[1])]
    assert taken(since=date(2026, 12, 1)) == []
    assert [f.received for f in source.fetch_after(0)] == days  # INTERNALDATE, with its offset


def test_fetching_a_message_holds_it_once_in_memory(dovecot, imap_user, open_source):
    # imapclient turns imaplib's protocol trace on, which formats every response into a string,
    # logged or not: 3.3 times the message's size at once.
    raw = message(1, 6 * 1024 * KB)
    dovecot.append(imap_user.user, raw)
    messages = open_source().fetch_after(0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fetched = next(messages)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert fetched.raw == raw
    assert peak < 1.3 * len(raw), f"{peak / len(raw):.2f} times the message's size"


# -- Maildir -----------------------------------------------------------------------------
@pytest.fixture
def maildir(tmp_path):
    cfg = MailboxConfig(name="demo", address="l.marcq@lievin.fr", kind="maildir", path=tmp_path / "boite",
                        coordinators=("l.marcq@lievin.fr",))
    return MaildirSource(cfg)


def deliver(source: MaildirSource, name: str, raw: bytes, when: datetime) -> None:
    path = source.root / "new" / name
    path.write_bytes(raw)
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_a_maildir_offers_its_messages_oldest_first_with_size_and_time(maildir):
    paris = datetime(2026, 11, 25, 10, 0, tzinfo=PARIS)
    deliver(maildir, "b.host", message(2), paris)
    deliver(maildir, "a.host", message(1), paris + timedelta(minutes=5))
    deliver(maildir, "c.host", message(3), paris - timedelta(minutes=5))
    fetched = list(maildir.fetch_after(0))
    assert [(f.uid, f.raw, f.size) for f in fetched] == [
        ("c.host", message(3), len(message(3))), ("b.host", message(2), len(message(2))),
        ("a.host", message(1), len(message(1)))]
    assert fetched[1].received == paris and fetched[1].received.tzinfo is PARIS


def test_a_maildir_message_over_max_bytes_is_read_for_its_header_only(maildir):
    raw = message(1)
    deliver(maildir, "big.host", raw, datetime(2026, 11, 25, 10, 0, tzinfo=PARIS))
    path = maildir.root / "new" / "big.host"
    os.truncate(path, 3 * 1024**3)  # 3 GB (sparse): read whole, it would take seconds and 3 GB
    os.utime(path, (0, datetime(2026, 11, 25, 10, 0, tzinfo=PARIS).timestamp()))
    started = time.monotonic()
    [fetched] = maildir.fetch_after(0, max_bytes=40 * 1024 * KB)
    assert time.monotonic() - started < 1
    assert fetched == Fetched("big.host", None, 3 * 1024**3, header=header_block(raw), received=fetched.received)
    assert fetched.header.startswith(b"From: Porteur 1") and fetched.header.endswith(b"\r\n\r\n")


def test_maildir_since_and_before_are_days_in_paris(maildir):
    # 23:30 UTC on 24 November is 00:30 on the 25th in Paris.
    deliver(maildir, "late.host", message(1), datetime(2026, 11, 24, 23, 30, tzinfo=UTC))
    deliver(maildir, "next.host", message(2), datetime(2026, 11, 26, 9, 0, tzinfo=PARIS))
    deliver(maildir, "old.host", message(3), datetime(2026, 11, 20, 9, 0, tzinfo=PARIS))

    def taken(**window) -> list[str]:
        return [f.uid for f in maildir.fetch_after(0, **window)]

    assert taken(since=date(2026, 11, 25)) == ["late.host", "next.host"]
    assert taken(before=date(2026, 11, 25)) == ["old.host"]
    assert taken(since=date(2026, 11, 21), before=date(2026, 11, 26)) == ["late.host"]


def test_marking_a_maildir_message_moves_it_to_cur_unchanged(maildir):
    when = datetime(2026, 11, 25, 10, 0, tzinfo=PARIS)
    raw = message(1).replace(b"\r\n", b"\n")
    deliver(maildir, "one.host", raw, when)
    [fetched] = maildir.fetch_after(0)
    maildir.mark(fetched.uid)
    assert not (maildir.root / "new" / "one.host").exists()
    moved = maildir.root / "cur" / "one.host"  # no flag: a mail client still shows it unread
    assert moved.read_bytes() == raw and moved.stat().st_mtime == when.timestamp()
    maildir.mark(fetched.uid)  # marking twice changes nothing
    assert [(f.uid, f.raw) for f in maildir.fetch_after(0)] == [("one.host", raw)]
