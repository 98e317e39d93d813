"""The 1,137 real messages of ../shared/corpus/mail-realworld/ through `citebot poll
--once`, a real process, on a mailbox in mode "dedie" (the one that answers every
human: the strictest for robots), mails written as .eml files.

No robot (labelled bounce, feedback, autoreply or challenge) gets a single reply;
every message is recorded once; nothing crashes. Messages labelled ordinary or
tnef may be answered: a person wrote them.

The corpus lives outside the repository. Without it the test is skipped on a
workstation, but fails in CI (CI=true), where a missing corpus would otherwise
pass silently.
"""

from __future__ import annotations

import csv
import email
import mailbox
import os
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.store.models import InboundMessage, Outbox

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO.parent / "shared" / "corpus" / "mail-realworld").resolve()
ROBOTS = {"bounce", "feedback", "autoreply", "challenge"}

CONFIG = """
[bot]
name = "Cité éducative de Liévin"
address = "cite-educative@lievin.fr"
data_dir = "var"

[smtp]
transport = "maildir"
path = "envoyes"

[[mailbox]]
name = "projets"
address = "projets@cite-educative-lievin.fr"
mode = "dedie"
kind = "maildir"
path = "boite"
coordinators = ["l.marcq@lievin.fr"]
porteur_types = ["education_nationale", "service_ville", "association", "structure_partenaire", "secteur_prive"]

[avis]
ien = ["ien.lievin@ac-lille.fr"]
reply_mailbox = "projets"

[limits]
# Every human answered: the daily limit per sender would hide replies to robots.
auto_replies_per_sender_per_day = 1000
"""


def labelled() -> list[tuple[Path, str]]:
    """(file, label) for every file listed in a LABELS.tsv of the corpus."""
    found = []
    for labels in sorted(CORPUS.glob("*/LABELS.tsv")):
        with labels.open(encoding="utf-8", newline="") as handle:
            found += [(labels.parent / row["file"], row["label"]) for row in csv.DictReader(handle, delimiter="\t")]
    return found


pytestmark = pytest.mark.slow


def test_no_robot_of_the_real_world_corpus_is_ever_answered(tmp_path):
    messages = labelled() if CORPUS.is_dir() else []
    if not messages:
        reason = f"the real-world mail corpus is missing or empty: no LABELS.tsv under {CORPUS}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: it must be there)")
        pytest.skip(reason)

    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    box = mailbox.Maildir(tmp_path / "boite", create=True)
    delivered = {box.add(path.read_bytes()): (path, label) for path, label in messages}
    box.close()

    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "bot", "--config", str(tmp_path / "config.toml"), "poll", "--once"],
                         cwd=tmp_path, check=False, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    print(f"\n{len(delivered)} messages, {sum(label in ROBOTS for _, label in delivered.values())} robots: "
          f"poll --once in {elapsed:.1f} s")

    assert "Traceback" not in run.stderr, run.stderr[-4000:]
    assert run.returncode == 0, run.stderr[-4000:]

    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'citebot.sqlite3'}")
    with Session(engine) as session:
        inbound = {i.id: i for i in session.scalars(select(InboundMessage))}
        rows = list(session.scalars(select(Outbox)))
    engine.dispose()

    # Recorded once each: one InboundMessage per delivered file, under its Maildir key.
    uids = sorted(i.uid for i in inbound.values())
    assert uids == sorted(delivered), "not one record per delivered message"
    crashed = [delivered[i.uid][0].relative_to(CORPUS).as_posix() for i in inbound.values()
               if i.outcome == "erreur_interne"]
    assert crashed == [], f"messages our code could not handle: {crashed}"

    # Every mail written comes from the outbox; every queued answer names the message it answers.
    written = {email.message_from_bytes(f.read_bytes(), policy=policy.default)["Message-ID"]
               for f in (tmp_path / "envoyes" / "new").iterdir()} if (tmp_path / "envoyes" / "new").is_dir() else set()
    assert written == {r.message_id for r in rows if r.status == "sent"}
    assert [r.kind for r in rows if r.inbound_id is None] == []

    answered_robots = sorted(
        f"{delivered[inbound[r.inbound_id].uid][0].relative_to(CORPUS).as_posix()} ({r.kind} to {r.first_recipient})"
        for r in rows if delivered[inbound[r.inbound_id].uid][1] in ROBOTS
    )
    assert answered_robots == [], f"{len(answered_robots)} robots answered:\n" + "\n".join(answered_robots)
