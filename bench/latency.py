"""Benchmark of latency: from a fiche landing in the mailbox to its acknowledgement at the SMTP server.

Run: .venv/bin/python bench/latency.py [--spaced 50] [--every 3] [--burst 20]
A real Dovecot (IDLE on, as the bot finds it) and a local aiosmtpd; `citebot run` as a child
process with `schedule.poll_seconds` at its default (120 s): only IDLE can answer within seconds.
First `--spaced` fiches, one every `--every` seconds, then a burst of `--burst` at once, each from
a porteur of its own (a ~50 KB fiche, as bench/ingest.py builds). Time: from the end of the APPEND
to the acknowledgement's DATA accepted by the SMTP server. Prints p50, p95 and max per phase.
It is a benchmark, not a test: the target never changes the exit status (0).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from ingest import CONFIG, fiche_mail  # noqa: E402  (the same mailbox set-up and fiches)

P95_TARGET = 10.0  # seconds (mailboxes.md, "Latency")


class AckClock:
    """When each porteur's acknowledgement reached the sink (polled every 10 ms)."""

    def __init__(self, sink):
        self.sink, self.seen, self.done = sink, {}, threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        count = 0
        while not self.done.is_set():
            received = self.sink.received
            now = time.monotonic()
            for message in received[count:]:
                for rcpt in message.rcpt_tos:
                    self.seen.setdefault(rcpt, now)
            count = len(received)
            time.sleep(0.01)

    def wait(self, addresses, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(a in self.seen for a in addresses) and time.monotonic() < deadline:
            time.sleep(0.05)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaced", type=int, default=50)
    parser.add_argument("--every", type=float, default=3.0)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()

    from servers import Dovecot, SmtpSink

    with Dovecot() as dovecot, SmtpSink() as sink, tempfile.TemporaryDirectory() as folder:
        account = dovecot.new_account("latency")
        os.environ["CITEBOT_BENCH_PASSWORD_LATENCY"] = account.password
        config = Path(folder) / "config.toml"
        config.write_text(CONFIG.format(data_dir=Path(folder) / "var", smtp=sink, account=account,
                                        password_env="CITEBOT_BENCH_PASSWORD_LATENCY"), encoding="utf-8")
        total = args.spaced + args.burst
        print(f"building {total} fiches…", flush=True)
        raws = [fiche_mail(i)[0] for i in range(total)]
        stderr = open(Path(folder) / "daemon.stderr", "w+b")
        daemon = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], cwd=ROOT,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 30
            while b"waiting for new mail in IDLE" not in Path(stderr.name).read_bytes():
                if daemon.poll() is not None or time.monotonic() > deadline:
                    print(Path(stderr.name).read_text(errors="replace"))
                    print("the daemon did not reach IDLE")
                    return 0
                time.sleep(0.05)
            time.sleep(1)  # its first poll (at start) is over
            clock = AckClock(sink)
            landed: dict[str, float] = {}
            with dovecot.client(account.user, timeout=60) as client:
                for i in range(args.spaced):
                    client.append("INBOX", raws[i])
                    landed[f"porteur{i}@example.org"] = time.monotonic()
                    time.sleep(args.every)
                spaced = list(landed)
                clock.wait(spaced, 60)
                for i in range(args.spaced, total):
                    client.append("INBOX", raws[i])
                    landed[f"porteur{i}@example.org"] = time.monotonic()
            clock.wait(landed, 180)
            clock.done.set()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
            stderr.close()

    print(f"citebot run, poll_seconds 120 (default), IDLE on; Python {platform.python_version()}, "
          f"{os.cpu_count()} cores")
    phases = {f"{args.spaced} fiches, one every {args.every:g} s": spaced,
              f"burst of {args.burst}": [a for a in landed if a not in spaced]}
    everything = []
    for name, addresses in phases.items():
        latencies = [clock.seen[a] - landed[a] for a in addresses if a in clock.seen]
        everything += latencies
        missing = len(addresses) - len(latencies)
        if not latencies:
            print(f"{name}: no acknowledgement")
            continue
        print(f"{name}: p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, "
              f"max {max(latencies):.2f} s" + (f", {missing} never acknowledged" if missing else ""))
    if everything:
        p95 = percentile(everything, 0.95)
        verdict = "met" if p95 <= P95_TARGET and len(everything) == len(landed) else "NOT met"
        print(f"all {len(everything)}: p50 {statistics.median(everything):.2f} s, p95 {p95:.2f} s, "
              f"max {max(everything):.2f} s — target p95 ≤ {P95_TARGET:g} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
