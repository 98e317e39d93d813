"""The daemon, `citebot run`: its jobs, triggers and time zone on a pinned clock; the
lock that keeps a second daemon out; its logs; and the real thing as a subprocess
against Dovecot and the SMTP sink (workflow.md, "The daemon")."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from bot_harness import make_bot
from conftest import REPO
from mail_factory import fiche_bytes, mail
from servers import free_port

from bot import daemon
from bot.config import load_config
from bot.poller import Runtime

PARIS = ZoneInfo("Europe/Paris")

CONFIG = """\
[bot]
name = "Cité éducative de test"
address = "bot@example.org"
timezone = "{timezone}"

[smtp]
transport = "maildir"
path = "outbox"

[[mailbox]]
name = "en"
address = "en@example.org"
kind = "maildir"
path = "maildir/en"
coordinators = ["coord.en@example.org"]

[avis]
ien = ["ien@example.org"]
reply_mailbox = "en"

[schedule]
poll_seconds = {poll_seconds}
digest = "{digest}"
reminders = "08:30"
"""


def runtime(tmp_path: Path, poll_seconds: int = 120, digest: str = "mon-fri 07:45",
            timezone: str = "Europe/Paris") -> Runtime:
    """A runtime for the scheduler alone (no database, no rules: the jobs are not run)."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(poll_seconds=poll_seconds, digest=digest, timezone=timezone),
                    encoding="utf-8")
    return Runtime(cfg=load_config(path, {}), rules=None, sessions=None)


def fires(trigger, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times of a trigger from a pinned instant, in Paris time."""
    found, previous, now = [], None, start
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        found.append(previous.astimezone(PARIS))
        now = previous + timedelta(microseconds=1)
    return found


# --------------------------------------------------------------------------- jobs and triggers


def test_the_scheduler_has_its_five_jobs_with_explicit_options(tmp_path):
    start = datetime(2026, 11, 26, 10, 0, tzinfo=PARIS)
    scheduler = daemon.build_scheduler(runtime(tmp_path, poll_seconds=90), now=start)
    assert isinstance(scheduler, BackgroundScheduler) and scheduler.timezone == PARIS
    assert sorted(job.id for job in scheduler.get_jobs()) == sorted(daemon.JOBS)

    poll = scheduler.get_job("poll")
    assert isinstance(poll.trigger, IntervalTrigger) and poll.trigger.interval == timedelta(seconds=90)
    assert (poll.coalesce, poll.max_instances, poll.misfire_grace_time) == (True, 1, 90)
    assert poll.next_run_time == start  # the first poll is at start, not one interval later

    outbox = scheduler.get_job("outbox")
    assert isinstance(outbox.trigger, IntervalTrigger)
    assert outbox.trigger.interval == timedelta(seconds=daemon.OUTBOX_SECONDS)
    assert (outbox.coalesce, outbox.max_instances) == (True, 1)
    assert outbox.misfire_grace_time == daemon.OUTBOX_SECONDS

    for name in ("reminders", "digest", "purge"):
        job = scheduler.get_job(name)
        assert isinstance(job.trigger, CronTrigger) and job.trigger.timezone == PARIS
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.misfire_grace_time == daemon.DAILY_GRACE_SECONDS

    # One worker: a poll's own sending and the outbox job never run at the same time.
    assert scheduler._executors["default"]._pool._max_workers == 1


def test_the_digest_fires_monday_to_friday_at_0745_paris_across_the_autumn_dst_change(tmp_path):
    digest = daemon.build_scheduler(runtime(tmp_path)).get_job("digest").trigger
    # Friday 23 October 2026, 07:00 in Paris (CEST); summer time ends on Sunday the 25th.
    found = fires(digest, datetime(2026, 10, 23, 7, 0, tzinfo=PARIS), 6)
    assert [(d.date().isoformat(), d.strftime("%a %H:%M")) for d in found] == [
        ("2026-10-23", "Fri 07:45"),
        ("2026-10-26", "Mon 07:45"),
        ("2026-10-27", "Tue 07:45"),
        ("2026-10-28", "Wed 07:45"),
        ("2026-10-29", "Thu 07:45"),
        ("2026-10-30", "Fri 07:45"),
    ]
    assert found[0].utcoffset() == timedelta(hours=2) and found[0].astimezone(ZoneInfo("UTC")).hour == 5
    assert found[1].utcoffset() == timedelta(hours=1) and found[1].astimezone(ZoneInfo("UTC")).hour == 6


def test_the_digest_stays_at_0745_paris_across_the_spring_dst_change(tmp_path):
    digest = daemon.build_scheduler(runtime(tmp_path)).get_job("digest").trigger
    # Friday 26 March 2027 after the digest; summer time starts on Sunday the 28th.
    found = fires(digest, datetime(2027, 3, 26, 9, 0, tzinfo=PARIS), 2)
    assert [d.isoformat() for d in found] == ["2027-03-29T07:45:00+02:00", "2027-03-30T07:45:00+02:00"]


def test_the_digest_never_fires_on_a_weekend(tmp_path):
    digest = daemon.build_scheduler(runtime(tmp_path)).get_job("digest").trigger
    found = fires(digest, datetime(2026, 10, 1, 0, 0, tzinfo=PARIS), 60)  # twelve weeks, both DST changes
    assert {d.weekday() for d in found} == {0, 1, 2, 3, 4}
    assert {(d.hour, d.minute) for d in found} == {(7, 45)}
    # The crontab trap (facts.md): 1-5 would have meant Tuesday to Saturday.
    assert found[0].date().isoformat() == "2026-10-01"  # a Thursday


def test_a_digest_written_with_other_days_or_without_days(tmp_path):
    digest = daemon.build_scheduler(runtime(tmp_path, digest="mon,thu 18:05")).get_job("digest").trigger
    found = fires(digest, datetime(2026, 11, 23, 0, 0, tzinfo=PARIS), 3)  # Monday
    assert [d.strftime("%a %d %H:%M") for d in found] == ["Mon 23 18:05", "Thu 26 18:05", "Mon 30 18:05"]
    every_day = daemon.build_scheduler(runtime(tmp_path, digest="07:00")).get_job("digest").trigger
    found = fires(every_day, datetime(2026, 11, 27, 8, 0, tzinfo=PARIS), 3)  # Friday, after 07:00
    assert [d.strftime("%a %H:%M") for d in found] == ["Sat 07:00", "Sun 07:00", "Mon 07:00"]


def test_the_reminders_fire_every_day_at_0830_paris_including_the_dst_day(tmp_path):
    reminders = daemon.build_scheduler(runtime(tmp_path)).get_job("reminders").trigger
    found = fires(reminders, datetime(2026, 10, 23, 9, 0, tzinfo=PARIS), 4)
    assert [d.isoformat() for d in found] == [
        "2026-10-24T08:30:00+02:00",
        "2026-10-25T08:30:00+01:00",  # the Sunday of the change
        "2026-10-26T08:30:00+01:00",
        "2026-10-27T08:30:00+01:00",
    ]


def test_the_purge_runs_every_night_at_0330_paris_on_both_nights_of_a_dst_change(tmp_path):
    purge = daemon.build_scheduler(runtime(tmp_path)).get_job("purge").trigger
    spring = fires(purge, datetime(2027, 3, 27, 12, 0, tzinfo=PARIS), 3)  # summer time starts on the 28th
    autumn = fires(purge, datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), 2)  # and ends on 25 October 2026
    assert [d.isoformat() for d in spring + autumn] == [
        "2027-03-28T03:30:00+02:00",  # 02:00-03:00 does not exist that night; 03:30 does
        "2027-03-29T03:30:00+02:00",
        "2027-03-30T03:30:00+02:00",
        "2026-10-25T03:30:00+01:00",  # 02:00-03:00 happens twice; 03:30 once
        "2026-10-26T03:30:00+01:00",
    ]


def test_the_purge_hour_comes_from_the_schedule(tmp_path):
    rt = runtime(tmp_path)
    rt.cfg.path.write_text(rt.cfg.path.read_text(encoding="utf-8") + 'purge = "04:15"\n', encoding="utf-8")
    purge = daemon.build_scheduler(Runtime(cfg=load_config(rt.cfg.path, {}), rules=None, sessions=None))
    [fire] = fires(purge.get_job("purge").trigger, datetime(2026, 11, 26, 12, 0, tzinfo=PARIS), 1)
    assert fire.isoformat() == "2026-11-27T04:15:00+01:00"


def test_the_purge_job_purges_what_is_due_on_the_day_in_paris(tmp_path, caplog):
    from bot import clock
    from bot.rules import load_rules
    from bot.store.db import open_database
    from bot.store.files import store_raw
    from bot.store.models import InboundMessage

    cfg = runtime(tmp_path).cfg
    rt = Runtime(cfg=cfg, rules=load_rules(), sessions=open_database(cfg.bot.data_dir, cfg.bot.database_url))
    raw = b"From: nadia.bouzid@example.com\r\nSubject: Absence\r\nAuto-Submitted: auto-replied\r\n\r\nAbsente.\r\n"
    path = store_raw(cfg.bot.data_dir, raw)
    with rt.sessions.begin() as session:
        session.add(InboundMessage(mailbox="en", uidvalidity=0, uid="1", sha256="0" * 64, raw_path=path,
                                   from_addr="nadia.bouzid@example.com", subject="Absence",
                                   received_at=datetime(2026, 9, 1, 10, 0, tzinfo=PARIS),
                                   classification="automatique", outcome="enregistre", detail={}))
    # 23:30 UTC on 30 November is 1 December in Paris: 91 days after 1 September, not 90.
    caplog.set_level(logging.INFO, logger="bot.daemon")
    with clock.pinned(datetime(2026, 11, 30, 23, 30, tzinfo=ZoneInfo("UTC"))):
        daemon.purge_job(rt)
    assert not (cfg.bot.data_dir / path).exists()
    with rt.sessions() as session:
        [row] = session.query(InboundMessage).all()
        assert (row.raw_path, row.from_addr, row.subject, row.sha256) == ("", None, "", "0" * 64)
    assert "purge of 2026-12-01: 0 dossier(s), 1 message(s), 1 file(s), 0 mail(s)" in caplog.messages
    assert "nadia" not in caplog.text and "Absence" not in caplog.text


def test_the_scheduler_follows_the_configured_time_zone(tmp_path):
    rt = runtime(tmp_path, timezone="America/Montreal")
    montreal = ZoneInfo("America/Montreal")
    scheduler = daemon.build_scheduler(rt)
    assert scheduler.timezone == montreal
    [fire] = fires(scheduler.get_job("reminders").trigger, datetime(2026, 11, 26, 12, 0, tzinfo=montreal), 1)
    assert fire.astimezone(montreal).isoformat() == "2026-11-27T08:30:00-05:00"


# --------------------------------------------------------------------------- jobs that fail


def test_a_job_that_raises_is_logged_and_does_not_stop_the_scheduler(tmp_path, monkeypatch, caplog):
    calls = []

    def failing_poll(rt):
        calls.append(time.monotonic())
        raise RuntimeError("IMAP en panne")

    monkeypatch.setattr(daemon, "poll_once", failing_poll)
    scheduler = daemon.build_scheduler(runtime(tmp_path, poll_seconds=1))
    caplog.set_level(logging.ERROR, logger="bot.daemon")
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(calls) >= 2, "the poll job ran once, then the scheduler stopped"
        assert scheduler.running and scheduler.get_job("poll") is not None
    finally:
        scheduler.shutdown(wait=True)
    failures = [r for r in caplog.records if r.getMessage() == "job poll failed; the daemon goes on"]
    assert failures and failures[0].exc_info[0] is RuntimeError


def test_the_guarded_job_swallows_the_exception_and_skips_once_stopping(tmp_path, caplog):
    rt = runtime(tmp_path)
    runs = []

    def job(rt):
        runs.append(1)
        raise ValueError("boom")

    guarded = daemon.guarded(rt, "digest", job)
    with caplog.at_level(logging.ERROR, logger="bot.daemon"):
        guarded()  # does not raise
    assert runs == [1] and "job digest failed" in caplog.text
    rt.stopping.set()
    guarded()
    assert runs == [1]


def test_the_digest_job_uses_todays_date_in_paris_and_sends_the_outbox(tmp_path, monkeypatch):
    import types

    from bot import clock

    seen, sent = [], []
    monkeypatch.setitem(sys.modules, "bot.dossier.digest", types.SimpleNamespace(
        send_digests=lambda rt, today: seen.append(today) or 2))
    monkeypatch.setattr(daemon, "_send", lambda rt: sent.append(rt))
    rt = runtime(tmp_path)
    # 23:30 UTC on Sunday is already Monday 00:30 in Paris.
    with clock.pinned(datetime(2026, 11, 29, 23, 30, tzinfo=ZoneInfo("UTC"))):
        daemon.digest_job(rt)
    assert [d.isoformat() for d in seen] == ["2026-11-30"] and sent == [rt]


# --------------------------------------------------------------------------- the lock


def test_a_second_lock_on_the_same_data_dir_is_refused_with_the_holders_pid(tmp_path):
    fd = daemon.acquire_lock(tmp_path / "var")
    try:
        with pytest.raises(daemon.AlreadyRunning) as refused:
            daemon.acquire_lock(tmp_path / "var")
        assert str(refused.value) == (f"Un autre citebot tourne déjà sur {tmp_path / 'var'} "
                                      f"(pid {os.getpid()}) : arrêtez-le d'abord.")
        os.close(daemon.acquire_lock(tmp_path / "other"))  # another data_dir, another daemon
    finally:
        os.close(fd)
    os.close(daemon.acquire_lock(tmp_path / "var"))  # released with its descriptor


# --------------------------------------------------------------------------- logs


def test_logs_are_one_line_per_record_without_timestamps_off_a_terminal():
    stream = io.StringIO()
    daemon.configure_logging(logging.INFO, stream=stream, env={})
    try:
        logger = logging.getLogger("bot.test")
        logger.info("mailbox %s uid %s: %s", "ville", 7, "fiche_projet")
        try:
            raise RuntimeError("ligne 1\nligne 2")
        except RuntimeError:
            logger.exception("job poll failed")
        logging.getLogger("apscheduler.scheduler").info("Added job")  # quiet at INFO
    finally:
        logging.getLogger().handlers.clear()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "INFO bot.test: mailbox ville uid 7: fiche_projet"
    assert len(lines) == 2 and lines[1].startswith("ERROR bot.test: job poll failed | Traceback")
    assert "RuntimeError: ligne 1 | ligne 2" in lines[1]


def test_under_journald_each_line_carries_its_syslog_priority(tmp_path):
    with open(tmp_path / "journal", "w") as stream:
        stat = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        assert daemon.writes_to_journal(stream, env)
        assert not daemon.writes_to_journal(stream, {"JOURNAL_STREAM": "1:2"})
        daemon.configure_logging(logging.INFO, stream=stream, env=env)
        try:
            logging.getLogger("bot.test").warning("mailbox %s: UIDVALIDITY changed", "en")
            logging.getLogger("bot.test").error("mailbox %s unreachable", "ville")
        finally:
            logging.getLogger().handlers.clear()
    assert (tmp_path / "journal").read_text().splitlines() == [
        "<4>WARNING bot.test: mailbox en: UIDVALIDITY changed",
        "<3>ERROR bot.test: mailbox ville unreachable",
    ]


# --------------------------------------------------------------------------- the real daemon

UNREACHABLE = """\
[[mailbox]]
name = "injoignable"
address = "injoignable@lievin.fr"
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "none"
username = "personne"
password = "sans-importance"
timeout = 2
coordinators = ["f.talaga@lievin.fr"]

"""

LINE = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: .*")


def test_the_daemon_processes_mail_refuses_a_second_instance_and_stops_on_sigterm(
        tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    config = bot.rt.cfg.path
    # A mailbox that cannot be reached comes first: it must not keep the others from being polled.
    config.write_text(UNREACHABLE.format(port=free_port()) + config.read_text(encoding="utf-8")
                      + "\n[schedule]\npoll_seconds = 1\n", encoding="utf-8")
    bot.deliver(mail(subject="Projet Papillons de Liévin",
                     attachments=[("Fiche projet.docx", fiche_bytes())]))

    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    command = [sys.executable, "-m", "bot", "--config", str(config), "run"]
    stderr_path = tmp_path / "daemon.stderr"
    started = time.monotonic()
    with open(stderr_path, "wb") as stderr:
        first = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = started + 20
        while not any("camille.martin@example.org" in r.rcpt_tos for r in smtp_sink.received):
            assert first.poll() is None, f"the daemon died: {stderr_path.read_text()}"
            assert time.monotonic() < deadline, f"no acknowledgement after 20 s: {stderr_path.read_text()}"
            time.sleep(0.1)
        [dossier] = bot.dossiers()
        assert dossier.mailbox == "ville"

        second_started = time.monotonic()
        second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1 and time.monotonic() - second_started < 10
        assert second.stderr == (f"Un autre citebot tourne déjà sur {bot.rt.cfg.bot.data_dir} "
                                 f"(pid {first.pid}) : arrêtez-le d'abord.\n")
        assert first.poll() is None  # the first one is untouched

        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert time.monotonic() - started < 45

    log = stderr_path.read_text(encoding="utf-8")
    lines = log.splitlines()
    assert all(LINE.fullmatch(line) for line in lines), log  # one line per record, no timestamp
    assert "INFO bot.daemon: arrêt demandé (SIGTERM) : fin du message en cours" in lines
    assert lines[-1] == "INFO bot.daemon: citebot stopped"
    assert any(line.startswith("ERROR bot.poller: mailbox injoignable unreachable") for line in lines)
    assert any(re.fullmatch(r"INFO bot\.poller: mailbox ville uid \d+: .*", line) for line in lines)
    info = "\n".join(line for line in lines if line.startswith("INFO "))
    for personal in ("camille", "Camille", "Martin", "example.org", "Papillons", "Les petits reporters"):
        assert personal not in info
    # The mailbox was logged out properly and the message marked: nothing left for a next start.
    [state] = bot.mailbox("ville")
    assert "$CitebotDone" in state["flags"]


def test_the_daemon_says_once_at_start_that_replies_are_trusted_on_their_from_alone(tmp_path):
    """However many polls it runs (security.md, "Opinions and commands")."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(poll_seconds=1, digest="mon-fri 07:45", timezone="Europe/Paris"),
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    stderr_path = tmp_path / "daemon.stderr"
    with open(stderr_path, "wb") as stderr:
        daemon_process = subprocess.Popen([sys.executable, "-m", "bot", "-v", "--config", str(config), "run"],
                                          cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=stderr)
    try:
        deadline = time.monotonic() + 30
        while stderr_path.read_text(encoding="utf-8").count("bot.daemon: poll: ") < 3:
            assert daemon_process.poll() is None, f"the daemon died: {stderr_path.read_text()}"
            assert time.monotonic() < deadline, f"fewer than 3 polls in 30 s: {stderr_path.read_text()}"
            time.sleep(0.1)
        daemon_process.send_signal(signal.SIGTERM)
        assert daemon_process.wait(timeout=15) == 0
    finally:
        if daemon_process.poll() is None:
            daemon_process.kill()
            daemon_process.wait()
    lines = stderr_path.read_text(encoding="utf-8").splitlines()
    said = [i for i, line in enumerate(lines) if "bot.authserv_id" in line]
    started = next(i for i, line in enumerate(lines) if line.startswith("INFO bot.daemon: citebot started"))
    assert len(said) == 1 and said[0] < started, lines
    assert lines[said[0]].startswith(f"WARNING bot.config: {config} : clé « bot.authserv_id » vide : les réponses "
                                     "de l'IEN sont acceptées sur la seule foi de leur adresse d'expéditeur (From)")


def test_the_poll_stops_between_two_messages_once_a_stop_is_asked(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    for n in range(3):
        bot.deliver(mail(subject=f"Fiche {n}", attachments=[("f.docx", fiche_bytes())]))

    class StopAfterFirst:
        def after_fetch(self, uid): ...
        def after_commit(self, uid):
            bot.rt.stopping.set()
        def before_mark(self, uid): ...

    report = bot.poll(hooks=StopAfterFirst())
    assert report.handled == 1  # the message in hand was finished, marked; the others wait
    flags = [("$CitebotDone" in m["flags"]) for m in bot.mailbox("ville")]
    assert flags == [True, False, False]
    bot.rt.stopping.clear()
    assert bot.poll().handled == 2


def test_run_refuses_a_bad_configuration_with_one_line(tmp_path):
    (tmp_path / "config.toml").write_text("[bot]\nname = 1\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "bot", "--config", str(tmp_path / "config.toml"), "run"],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stderr.startswith("Configuration refusée — ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "var").exists()
