"""The daemon, `citebot run` (workflow.md, "The daemon"; facts.md, "Scheduling").

An APScheduler 3.x scheduler, in memory (no job store to share or to
duplicate: the jobs are rebuilt from the configuration at every start), in the
time zone of `bot.timezone`:

| id          | when                                   | does                                        |
|-------------|----------------------------------------|---------------------------------------------|
| `poll`      | every `schedule.poll_seconds`, at once  | every mailbox, then the outbox (poll_once)  |
| `outbox`    | every minute                           | the mails due (retries after a 4xx)         |
| `reminders` | daily at `schedule.reminders`          | avis and bilan reminders, then the outbox   |
| `digest`    | `schedule.digest` (day names, mon-fri) | the coordinators' digest, then the outbox   |
| `purge`     | daily at `schedule.purge` (03:30)      | what rules/retention.toml no longer keeps   |
| `wake-NAME` | when mailbox NAME's IDLE says new mail | that mailbox, then the outbox, at once      |

IMAP IDLE (mailboxes.md, "Latency"): a watcher thread per IMAP mailbox (bot/mail/idle.py)
waits on its own connection and, when new mail is announced, adds a one-off `wake-NAME`
job: the mailbox is polled and the acknowledgement sent within seconds, not at the next
poll or outbox minute. The watchers only wake the poll, so that the periodic poll, which
finds everything, still runs; a mailbox already waiting for its wake-up is not queued twice.

Every job runs in the scheduler's one worker thread, so that two jobs never
write the database or talk to the SMTP server at the same time (a poll's own
sending and the outbox job in particular). Every option APScheduler would
otherwise default is set here (coalesce, max_instances, misfire_grace_time).
A job that raises is logged and the daemon goes on; a mailbox that cannot be
reached is logged by poll_once, which goes on with the others.

One daemon per data_dir: `fcntl.flock` on `<data_dir>/citebot.lock`, held for
the life of the process (the kernel drops it when the process ends, however it
ends; the file is never removed). SIGTERM or SIGINT: the message in hand is
finished (poll_mailbox checks `Runtime.stopping` between messages), the mailbox
logged out, the running job waited for, exit 0; a second signal ends the
process at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import clock
from bot.mail.idle import start_watchers, stop_watchers
from bot.mail.outbox import SendReport, send_pending
from bot.poller import Runtime, poll_once
from bot.store.faults import describe, is_system_fault
from bot.store.lock import LOCK_FILE, AlreadyRunning, acquire_lock  # noqa: F401 — the daemon's lock

log = logging.getLogger(__name__)

JOBS = ("poll", "outbox", "reminders", "digest", "purge")
OUTBOX_SECONDS = 60
# A daily job delayed by a long poll (one worker) or a busy machine still runs within this.
DAILY_GRACE_SECONDS = 3600
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


# One daemon per data_dir: bot.store.lock (acquire_lock, AlreadyRunning).


# --------------------------------------------------------------------------- the jobs


def _timezone(rt: Runtime) -> ZoneInfo:
    return ZoneInfo(rt.cfg.bot.timezone)


def _send(rt: Runtime) -> None:
    report = send_pending(rt.sessions, rt.transport, rt.cfg, rt.stopping)
    if report.sent or report.retrying or report.failed:
        log.info("outbox: %d sent, %d deferred, %d failed", report.sent, report.retrying, report.failed)


def poll_job(rt: Runtime) -> None:
    report = poll_once(rt)  # sends the outbox after the mailboxes
    sending = report.sending or SendReport()
    level = logging.INFO if report.handled or sending.sent or sending.failed else logging.DEBUG
    log.log(level, "poll: %d handled, %d skipped, %d mailbox(es) unreachable; outbox: %d sent, %d deferred, "
            "%d failed", report.handled, report.skipped, len(report.unreachable),
            sending.sent, sending.retrying, sending.failed)


def outbox_job(rt: Runtime) -> None:
    _send(rt)


def reminders_job(rt: Runtime) -> None:
    from bot.dossier.reminders import run_reminders

    today = clock.today(_timezone(rt))
    report = run_reminders(rt, today)
    log.info("reminders of %s: %s", today.isoformat(), report)
    _send(rt)


def digest_job(rt: Runtime) -> None:
    from bot.dossier.digest import send_digests  # imported here: the digest is its own module

    today = clock.today(_timezone(rt))
    count = send_digests(rt, today)
    log.info("digest of %s: %d queued", today.isoformat(), count)
    _send(rt)


def purge_job(rt: Runtime) -> None:
    from bot.dossier.purge import run_purge

    today = clock.today(_timezone(rt))
    report = run_purge(rt, today)
    log.log(logging.DEBUG if report.nothing else logging.INFO, "purge of %s: %s", today.isoformat(),
            report.for_the_log())


class Waker:
    """The watchers' `wake`: a one-off job polling that mailbox at once, queued once at most
    (further wake-ups before it starts change nothing: its search finds all the new mail)."""

    def __init__(self, rt: Runtime, scheduler: BackgroundScheduler):
        self.rt, self.scheduler = rt, scheduler
        self._lock = threading.Lock()
        self._queued: set[str] = set()

    def __call__(self, name: str) -> None:
        mailbox = self.rt.cfg.mailbox(name)
        with self._lock:
            if name in self._queued or mailbox is None or self.rt.stopping.is_set():
                return
            self._queued.add(name)

        def wake_job(rt: Runtime) -> None:
            with self._lock:
                self._queued.discard(name)
            report = poll_once(rt, [mailbox])
            sending = report.sending or SendReport()
            log.info("wake-up of %s: %d handled, %d skipped; outbox: %d sent, %d deferred", name, report.handled,
                     report.skipped, sending.sent, sending.retrying)

        try:
            # Two may exist: one running, one queued behind it (mail that came during the first).
            self.scheduler.add_job(guarded(self.rt, f"wake-{name}", wake_job), id=f"wake-{name}", name=f"wake-{name}",
                                   replace_existing=True, max_instances=2, misfire_grace_time=None)
        except Exception:  # the scheduler is shutting down
            with self._lock:
                self._queued.discard(name)


def guarded(rt: Runtime, name: str, job: Callable[[Runtime], None]) -> Callable[[], None]:
    """The job as the scheduler runs it: skipped once a stop is asked; an exception is logged,
    never raised."""

    def run() -> None:
        if rt.stopping.is_set():
            return
        try:
            job(rt)
        except Exception as exc:
            if is_system_fault(exc):  # full disk, locked database…: one line, tried again at the next run
                log.error("job %s stopped: %s", name, describe(exc, rt.cfg.bot.database_url))
                log.debug("job %s stopped", name, exc_info=exc)
            else:
                log.exception("job %s failed; the daemon goes on", name)

    run.__name__ = run.__qualname__ = f"{name}_job"
    return run


def build_scheduler(rt: Runtime, now: datetime | None = None) -> BackgroundScheduler:
    """The scheduler with its five jobs, not started. `now`: when the first poll is due (default: now)."""
    tz = _timezone(rt)
    schedule = rt.cfg.schedule
    scheduler = BackgroundScheduler(
        timezone=tz,
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=1)},  # one job at a time, see the docstring
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": DAILY_GRACE_SECONDS},
    )
    jobs = {"poll": poll_job, "outbox": outbox_job, "reminders": reminders_job, "digest": digest_job,
            "purge": purge_job}
    digest, reminders, purge = schedule.digest_when, schedule.reminders_when, schedule.purge_when

    def add(name: str, trigger, grace: int, **options) -> None:
        scheduler.add_job(guarded(rt, name, jobs[name]), trigger, id=name, name=name, replace_existing=True,
                          coalesce=True, max_instances=1, misfire_grace_time=grace, **options)

    add("poll", IntervalTrigger(seconds=schedule.poll_seconds, timezone=tz), schedule.poll_seconds,
        next_run_time=now or datetime.now(tz))
    add("outbox", IntervalTrigger(seconds=OUTBOX_SECONDS, timezone=tz), OUTBOX_SECONDS)
    add("reminders", CronTrigger(hour=reminders.hour, minute=reminders.minute, timezone=tz),
        DAILY_GRACE_SECONDS)
    # Day names ("mon-fri"), never numbers: APScheduler counts Monday as 0, crontab as 1 (facts.md).
    add("digest", CronTrigger(day_of_week=digest.day_of_week or "*", hour=digest.hour, minute=digest.minute,
                              timezone=tz), DAILY_GRACE_SECONDS)
    add("purge", CronTrigger(hour=purge.hour, minute=purge.minute, timezone=tz), DAILY_GRACE_SECONDS)
    return scheduler


# --------------------------------------------------------------------------- running


def run(rt: Runtime, lock_fd: int) -> int:
    """Run until SIGTERM or SIGINT; 0. `lock_fd` (from acquire_lock) stays open until the process ends."""
    # The stop signals are blocked before any thread starts (threads inherit the mask), and
    # taken by sigwait() in this thread: no handler runs in the middle of a job.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # already so since the command line was read
    if early := signal.sigpending() & set(STOP_SIGNALS):
        log.info("arrêt demandé (%s) pendant le démarrage : rien n'a été commencé",
                 signal.Signals(min(early)).name)
        return 0
    scheduler = build_scheduler(rt)
    scheduler.start()
    watchers = start_watchers(rt.cfg.mailboxes, Waker(rt, scheduler), rt.stopping)
    schedule = rt.cfg.schedule
    log.info("citebot started (pid %d): %d mailbox(es), poll every %d s, reminders at %s, digest at %s, "
             "purge at %s, time zone %s", os.getpid(), len(rt.cfg.mailboxes), schedule.poll_seconds,
             schedule.reminders, schedule.digest, schedule.purge, rt.cfg.bot.timezone)
    received = signal.sigwait(STOP_SIGNALS)
    log.info("arrêt demandé (%s) : fin du message en cours", signal.Signals(received).name)
    rt.stopping.set()
    # A second signal ends the process at once.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    stop_watchers(watchers)  # they see `stopping` within a second: DONE, LOGOUT
    scheduler.shutdown(wait=True)
    log.info("citebot stopped")
    return 0  # lock_fd is closed, and the lock released, by the kernel when the process exits


# --------------------------------------------------------------------------- logging


def _syslog_priority(level: int) -> int:
    """sd-daemon(3) priorities: 3 error, 4 warning, 6 info, 7 debug."""
    thresholds = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
    for threshold, priority in thresholds:
        if level >= threshold:
            return priority
    return 7


class OneLineFormatter(logging.Formatter):
    """`LEVEL name: message`, one line per record (a traceback folded with " | ").

    Under journald, each line starts with its syslog priority (`<3>`), which journald
    reads (SyslogLevelPrefix=), and carries no timestamp: journald adds its own.
    """

    def __init__(self, journal: bool = False):
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = " | ".join(line for line in super().format(record).splitlines() if line.strip())
        return f"<{_syslog_priority(record.levelno)}>{text}" if self.journal else text


def writes_to_journal(stream: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    """True when `stream` is the journal stream systemd gave us ($JOURNAL_STREAM = device:inode)."""
    value = env.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        stat = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


def configure_logging(level: int, stream: TextIO | None = None, env: Mapping[str, str] = os.environ) -> None:
    """The daemon's logs on stderr: plain lines without timestamps for journald or any non-terminal,
    timestamps on a terminal. INFO carries counts, mailbox names and UIDs only, never an address,
    a name or a subject."""
    stream = stream or sys.stderr
    journal = writes_to_journal(stream, env)
    handler = logging.StreamHandler(stream)
    if journal or "JOURNAL_STREAM" in env or not stream.isatty():
        handler.setFormatter(OneLineFormatter(journal=journal))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every run at INFO: only its warnings (a missed run, a job still running), unless -v.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
