"""Benchmark of the sent window: how long a mail the SMTP server accepted stays unrecorded.

Run: .venv/bin/python bench/sent_window.py [--messages N] [--compare]
A backlog of N fiches (default 1,000) in a real Dovecot, one `poll_once` in a child process,
acknowledgements to a local aiosmtpd. For every mail sent, the gap between the moment the
server's answer is in (`send` returns) and the moment its outcome is durable (the journal's
fdatasync returns: bot.store.sent_journal). Prints the median, p90, p99 and maximum of the gap,
and the share of the poll's time during which an accepted mail was not yet recorded.
`--compare` runs the same backlog a second time with the outcome written as before issue 15
(an UPDATE committed on the database, behind the poll's write transactions).
It is a benchmark, not a test: targets never change the exit status (0).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from ingest import append_all, fiche_mail, write_config  # noqa: E402

P99_TARGET_MS = 5.0


def child(config_path: str, through_database: bool, switch_interval: float | None = None) -> dict:
    """The bot alone, in a fresh process: one poll_once, every gap measured."""
    import threading

    import bot.poller

    if switch_interval:
        bot.poller.SENDER_SWITCH_INTERVAL = switch_interval

    from bot.config import load_config
    from bot.mail import outbox
    from bot.poller import Runtime, poll_once
    from bot.rules import load_rules
    from bot.store.db import open_database

    cfg = load_config(config_path)
    rt = Runtime(cfg=cfg, rules=load_rules(), sessions=open_database(cfg.bot.data_dir, cfg.bot.database_url))
    answered, gaps = threading.local(), []
    real_connect = rt.transport.connect

    class Timed:
        def __init__(self, connection):
            self.connection = connection

        def send(self, raw, sender, recipients):
            refused = self.connection.send(raw, sender, recipients)
            answered.at = time.perf_counter()  # the server's 250 is in
            return refused

    import contextlib

    @contextlib.contextmanager
    def connect():
        with real_connect() as connection:
            yield Timed(connection)

    rt.transport.connect = connect
    real_record = outbox._record

    def record(sessions, journal, entry):
        if through_database:
            outbox._apply(sessions, [entry])  # as before: an UPDATE committed on the database
        else:
            real_record(sessions, journal, entry)
        gaps.append(time.perf_counter() - answered.at)

    outbox._record = record
    start = time.perf_counter()
    report = poll_once(rt)
    return {"elapsed": time.perf_counter() - start, "gaps": gaps, "handled": report.handled,
            "sent": report.sending.sent}


def summary(label: str, result: dict) -> list[str]:
    gaps = sorted(g * 1000 for g in result["gaps"])
    if not gaps:
        return [f"{label}: no mail sent"]
    quantile = lambda q: gaps[min(len(gaps) - 1, int(q * len(gaps)))]  # noqa: E731
    p99 = quantile(0.99)
    share = sum(gaps) / 1000 / result["elapsed"] * 100
    return [f"{label}: {result['handled']} handled, {len(gaps)} mails, poll {result['elapsed']:.1f} s",
            f"  gap median {statistics.median(gaps):.2f} ms, p90 {quantile(0.90):.2f} ms, p99 {p99:.2f} ms, "
            f"max {gaps[-1]:.2f} ms; an accepted mail unrecorded {share:.1f} % of the time"
            + (f"  (p99 target ≤ {P99_TARGET_MS} ms: {'met' if p99 <= P99_TARGET_MS else 'NOT met'})")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--compare", action="store_true", help="also measure the database-only record")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="the interpreter's switch interval while sending (default: bot.poller's)")
    args = parser.parse_args()
    from servers import Dovecot, SmtpSink, dovecot_available

    print(f"citebot sent-window benchmark — Python {platform.python_version()} on {platform.platform()}")
    if not dovecot_available():
        print("Dovecot is not installed (/usr/sbin/dovecot): nothing measured.")
        return
    spawn = get_context("spawn")
    modes = [("journal (issue 15)", False)] + ([("database UPDATE (before)", True)] if args.compare else [])
    with tempfile.TemporaryDirectory(prefix="citebot-sent-") as tmp, Dovecot() as dovecot, SmtpSink() as sink:
        with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=spawn) as pool:
            raws, _ = zip(*pool.map(fiche_mail, range(args.messages), chunksize=25))
        lines = []
        for k, (label, through_database) in enumerate(modes):
            account = dovecot.new_account(f"sent{k}-")
            append_all(dovecot, account.user, raws)
            config = write_config(Path(tmp), f"sent{k}", account, sink)
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                result = pool.submit(child, str(config), through_database, args.switch_interval).result()
            lines += summary(label, result)
            sink.reset()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
    sys.exit(0)
