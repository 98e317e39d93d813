"""Reading ahead (bot.read_ahead): a backlog's messages read in another process, handed
back in the mailbox's order, each once, whatever happens to that process."""

from __future__ import annotations

import logging
import mailbox
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from bot_harness import make_bot
from conftest import REPO
from mail_factory import fiche_bytes, fiche_with_errors, mail
from reading_probe import unreadable, who_read

import bot.read_ahead
from bot.demo import CONFIG as MAILDIR_CONFIG
from bot.mail.sources import Fetched
from bot.read_ahead import DEPTH, MAX_MESSAGE_BYTES, WINDOW_BYTES, ReadAhead

TESTS = Path(__file__).resolve().parent
ME = os.getpid()


def backlog(n: int, size: int = 0) -> list[Fetched]:
    return [Fetched(str(i), str(i).encode().ljust(size, b" ") if size else str(i).encode(), 10) for i in range(1, n + 1)]


def read_all(ahead: ReadAhead, messages) -> list[tuple[str, bytes, int]]:
    return [(fetched.uid, *read()) for fetched, read in ahead.messages(messages)]


def no_reading_process_left() -> bool:
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not multiprocessing.active_children()


def test_a_backlog_is_read_in_another_process_and_handed_back_in_order():
    messages = backlog(30)
    with ReadAhead(who_read, 0.01, processes=1) as ahead:
        got = read_all(ahead, messages)
    assert [(uid, raw) for uid, raw, _ in got] == [(m.uid, m.raw) for m in messages]
    assert any(pid != ME for *_, pid in got), "nothing was read by the reading process"
    assert ahead.read_there + ahead.read_here == 30 and ahead.read_there > 0
    assert no_reading_process_left()


def test_a_few_messages_are_read_here_without_starting_a_process():
    with ReadAhead(who_read, processes=1) as ahead:
        got = read_all(ahead, backlog(DEPTH - 1))
        assert multiprocessing.active_children() == []
    assert {pid for *_, pid in got} == {ME} and ahead.read_there == 0


def test_a_backlog_of_large_fiches_is_read_ahead_too():
    """Fiches with pictures weigh megabytes: fewer than DEPTH of them fill the window."""
    size = WINDOW_BYTES // 4 + 1  # four fill it: a backlog, though fewer than DEPTH messages
    with ReadAhead(who_read, 0.02, processes=1) as ahead:
        got = read_all(ahead, backlog(12, size=size))
    assert len(got) == 12 and ahead.read_there > 0


def test_one_message_larger_than_the_window_starts_nothing():
    with ReadAhead(who_read, processes=1) as ahead:
        got = read_all(ahead, [Fetched("1", b"x" * (WINDOW_BYTES + 1), WINDOW_BYTES + 1)])
        assert multiprocessing.active_children() == []
    assert got[0][2] == ME


def test_a_machine_of_one_core_reads_everything_here(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    with ReadAhead(who_read) as ahead:
        got = read_all(ahead, backlog(3 * DEPTH))
    assert {pid for *_, pid in got} == {ME}


def test_where_no_process_can_be_started_everything_is_read_here(monkeypatch, caplog):
    def no_sem_open(*args, **kwargs):
        raise ImportError("This platform lacks a functioning sem_open implementation")

    monkeypatch.setattr(bot.read_ahead, "ProcessPoolExecutor", no_sem_open)
    with ReadAhead(who_read, processes=1) as ahead:
        got = read_all(ahead, backlog(3 * DEPTH))
    assert [uid for uid, *_ in got] == [str(i) for i in range(1, 3 * DEPTH + 1)] and {pid for *_, pid in got} == {ME}
    assert "no reading process (ImportError)" in caplog.text


def test_a_process_that_cannot_be_started_leaves_everything_read_here(monkeypatch, caplog):
    """fork refused (EAGAIN: the service's TasksMax reached): not the poll's failure."""
    def refused(self):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", refused)
    with ReadAhead(who_read, processes=1) as ahead:
        got = read_all(ahead, backlog(3 * DEPTH))
    assert [uid for uid, *_ in got] == [str(i) for i in range(1, 3 * DEPTH + 1)] and {pid for *_, pid in got} == {ME}
    assert "the reading process could not be started; messages are read here" in caplog.text


def test_a_large_message_is_read_here_the_others_there():
    messages = backlog(2 * DEPTH)
    messages[DEPTH] = Fetched("big", b"x" * (MAX_MESSAGE_BYTES + 1), MAX_MESSAGE_BYTES + 1)
    with ReadAhead(who_read, 0.02, processes=1) as ahead:
        got = {uid: pid for uid, _, pid in read_all(ahead, messages)}
    assert got["big"] == ME
    assert any(pid != ME for pid in got.values())


def test_a_message_not_downloaded_passes_through_unread():
    messages = backlog(2 * DEPTH)
    messages[3] = Fetched("huge", None, 90_000_000, header=b"Subject: x\r\n\r\n")
    seen = []
    with ReadAhead(who_read, processes=1) as ahead:
        for fetched, read in ahead.messages(messages):
            seen.append(fetched.uid)
            if not fetched.too_large:
                assert read()[0] == fetched.raw
    assert seen == [m.uid for m in messages]


def test_what_a_message_raises_while_read_there_is_raised_for_that_message_only():
    messages = backlog(20)
    outcomes = {}
    with ReadAhead(unreadable, b"7", processes=1) as ahead:
        for fetched, read in ahead.messages(messages):
            try:
                outcomes[fetched.uid] = read()[0]
            except ValueError as exc:
                outcomes[fetched.uid] = str(exc)
    assert outcomes["7"] == "cannot read 7"
    assert [outcomes[m.uid] for m in messages if m.uid != "7"] == [m.raw for m in messages if m.uid != "7"]


def test_when_the_reading_process_is_killed_every_message_is_still_read_once(caplog):
    caplog.set_level(logging.WARNING, "bot.read_ahead")
    messages = backlog(40)
    got = []
    with ReadAhead(who_read, 0.02, processes=1) as ahead:
        for fetched, read in ahead.messages(messages):
            got.append((fetched.uid, *read()))
            if len(got) == 12:
                for child in multiprocessing.active_children():
                    os.kill(child.pid, signal.SIGKILL)
    assert [(uid, raw) for uid, raw, _ in got] == [(m.uid, m.raw) for m in messages]
    assert got[-1][2] == ME  # after the loss, read here
    assert "the reading process ended unexpectedly" in caplog.text
    assert no_reading_process_left()


def test_a_mailbox_that_fails_midway_has_the_messages_before_handed_out_first():
    """As without reading ahead: a FETCH refused at the tenth message leaves the nine before
    it handled this round, not dropped from the window."""
    def mailbox_failing_at_ten():
        yield from backlog(9)
        raise ConnectionError("FETCH refused")

    got = []
    with ReadAhead(who_read, processes=1) as ahead:
        messages = ahead.messages(mailbox_failing_at_ten())
        with pytest.raises(ConnectionError):
            for fetched, read in messages:
                got.append((fetched.uid, read()[0]))
    assert got == [(str(i), str(i).encode()) for i in range(1, 10)]


def test_leaving_the_backlog_early_ends_the_reading_process():
    with ReadAhead(who_read, 0.01, processes=1) as ahead:
        for i, (_, read) in enumerate(ahead.messages(backlog(40))):
            read()
            if i == 10:
                break
    assert no_reading_process_left()


def test_the_reading_process_ignores_sigterm_and_ends_when_its_poller_is_killed(tmp_path):
    """SIGTERM (systemd's, to the whole group) is the poller's to act on; a poller killed
    outright leaves no reading process behind."""
    script = tmp_path / "poller.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing, os, signal, sys, time
        sys.path[:0] = [{str(TESTS.parent)!r}, {str(TESTS)!r}]
        from bot.mail.sources import Fetched
        from bot.read_ahead import ReadAhead
        from reading_probe import who_read
        if __name__ == "__main__":
            ahead = ReadAhead(who_read, 0.05, processes=1)
            messages = ahead.messages([Fetched(str(i), b"m", 1) for i in range(50)])
            for i, (fetched, read) in enumerate(messages):
                read()
                if i == 10:
                    [child] = multiprocessing.active_children()
                    os.kill(child.pid, signal.SIGTERM)
                    time.sleep(0.3)
                    print(child.pid, child.is_alive(), flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
    """), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    pid, alive = result.stdout.split()
    assert alive == "True"  # SIGTERM ignored
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "gone"
    assert state in ("gone", "Z"), f"reading process {pid} still running"


# -- a poll of a backlog, on the real Dovecot -------------------------------------------

def deliver_backlog(bot) -> None:
    for i in range(1, 13):
        bot.deliver(mail(sender=f"Porteur {i} <porteur{i}@example.org>", subject=f"Fiche projet {i}",
                         attachments=[(f"fiche-{i}.docx", fiche_bytes(intitule=f"Projet numéro {i}"))]))
    bot.deliver(mail(sender="Porteur 13 <porteur13@example.org>", attachments=[("a.docx", fiche_with_errors())]))
    bot.deliver(mail(sender="Porteur 14 <porteur14@example.org>", subject="Fiche projet",
                     attachments=[("fiche.pdf", b"%PDF-1.4 not a Word file")]))
    bot.deliver(mail(sender="MAILER-DAEMON <>", subject="Undelivered Mail Returned to Sender",
                     headers={"Auto-Submitted": "auto-replied"}))


def outcome(bot) -> dict:
    return {
        "dossiers": [(d.reference, d.status, d.versions[0].fields["intitule"]) for d in bot.dossiers()],
        "inbound": [(m.uid, m.classification, m.outcome) for m in bot.inbound()],
        "answers": sorted((tuple(r.rcpt_tos), re.sub(r"CE-\d{4}-", "CE-", r.message()["Subject"]))
                          for r in bot.sink.received),
    }


def test_a_backlog_polled_with_a_reading_process_gives_what_reading_here_gives(tmp_path, dovecot, smtp_sink,
                                                                              monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, "bot.read_ahead")
    (tmp_path / "ahead").mkdir(), (tmp_path / "here").mkdir()
    ahead = make_bot(tmp_path / "ahead", dovecot, smtp_sink, monkeypatch)
    deliver_backlog(ahead)
    report = ahead.poll()
    assert report.ok and report.handled == 15
    there = re.search(r"(\d+) message\(s\) read by the reading process", caplog.text)
    assert there and int(there.group(1)) > 0, "the backlog was not read ahead"
    with_process = outcome(ahead)
    smtp_sink.reset()

    monkeypatch.setattr(bot.read_ahead, "reading_processes", lambda: 0)
    here = make_bot(tmp_path / "here", dovecot, smtp_sink, monkeypatch)
    deliver_backlog(here)
    assert here.poll().handled == 15
    assert outcome(here) == with_process
    # In the mailbox's order: the first fiche has the first reference.
    assert [title for *_, title in with_process["dossiers"]][:12] == [f"Projet numéro {i}" for i in range(1, 13)]
    assert len(with_process["answers"]) == 14  # every human answered once, the robot never
    assert all("$CitebotDone" in m["flags"] for m in ahead.mailbox())


@pytest.mark.parametrize("entry", ["python -m bot", "citebot"])
def test_both_entry_points_read_a_backlog_ahead(tmp_path, entry):
    """A spawned process prepares itself from the parent's main module: the reading process
    must start, and read, under `python -m bot` and under the console script alike."""
    config = tmp_path / "config.toml"
    config.write_text(MAILDIR_CONFIG, encoding="utf-8")
    (tmp_path / "boites").mkdir()
    ville = mailbox.Maildir(tmp_path / "boites" / "ville", create=True)
    for i in range(DEPTH + 2):
        ville.add(mail(sender=f"Porteur {i} <porteur{i}@example.org>", subject=f"Fiche projet {i}",
                       attachments=[("fiche.docx", fiche_bytes(intitule=f"Projet {i}"))]))
    mailbox.Maildir(tmp_path / "boites" / "education_nationale", create=True)
    script = Path(sys.executable).with_name("citebot")
    assert entry != "citebot" or script.is_file(), "the console script is installed with the package"
    command = [sys.executable, "-m", "bot"] if entry == "python -m bot" else [str(script)]
    run = subprocess.run([*command, "-v", "--config", str(config), "poll", "--once"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    there = re.search(r"(\d+) message\(s\) read by the reading process", run.stderr)
    assert there and int(there.group(1)) > 0 and "ended unexpectedly" not in run.stderr, run.stderr
    assert len(list((tmp_path / "courriels-envoyes" / "new").iterdir())) == DEPTH + 2
