"""citebot on PostgreSQL (README: "any SQLAlchemy URL"): the Alembic migrations, then the real
message path (Dovecot + SMTP sink, as tests/bot_harness.py) with `database_url` pointing at a
throwaway PostgreSQL cluster started for the session.

PostgreSQL is optional for this project (SQLite is the default): without the server binaries
(/usr/lib/postgresql/*/bin, Debian package `postgresql`) or without psycopg (`pip install
'psycopg[binary]'`, in the `test` extra) these tests are skipped, in CI too.

What SQLite lets through and PostgreSQL refuses is what these tests are about: String(n)
lengths (Message-ID, subject, file names, addresses, outcomes), naive vs aware datetimes (the
server runs at UTC+14 here), JSON and BYTEA round trips, the max(seq)+1 reference numbering
when two transactions race, and make_engine's SQLite PRAGMAs (never sent to PostgreSQL).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timezone
from email import message_from_bytes, policy
from pathlib import Path

import bot_harness
import pytest
from bot_harness import Bot, make_bot
from click.testing import CliRunner
from mail_factory import fiche_bytes, fiche_with_errors, mail, school_time_fiche
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from bot import clock
from bot.cli import main
from bot.dossier.digest import send_digests
from bot.form.check import check_bytes
from bot.form.report import json_value
from bot.mail.sources import Fetched
from bot.store.db import make_engine, upgrade
from bot.store.models import AvisRequest, Base, DigestState, Dossier, Event, Outbox, Version

SKIP_REASON = ("PostgreSQL is optional for citebot (SQLite is the default); these tests run when the "
               "server binaries (Debian package `postgresql`, /usr/lib/postgresql/*/bin) and psycopg "
               "(`pip install 'psycopg[binary]'`, in the `test` extra) are installed")
NO_POSTGRES_ENV = "CITEBOT_TEST_NO_POSTGRES"  # set to 1 to behave as if PostgreSQL were not installed
SERVER_TIMEZONE = "Pacific/Kiritimati"  # UTC+14: a datetime converted by the server would show


def _bin_dir() -> Path | None:
    if os.environ.get(NO_POSTGRES_ENV, "") not in ("", "0"):
        return None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(re.search(r"/(\d+)/bin/", p)[1]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    port: int
    admin: object  # psycopg module

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = "citebot_" + uuid.uuid4().hex[:12]
        with self.admin.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                                autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway cluster (initdb in a temporary folder, trust auth on 127.0.0.1, a free port),
    stopped and removed at the end of the session; skipped when PostgreSQL is not installed."""
    psycopg = pytest.importorskip("psycopg", reason=SKIP_REASON)
    bin_dir = _bin_dir()
    if bin_dir is None:
        hidden = f" (hidden by {NO_POSTGRES_ENV}=1)" if os.environ.get(NO_POSTGRES_ENV) else ""
        pytest.skip(SKIP_REASON + hidden)
    run_as: dict = {}
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(f"{SKIP_REASON}; as root, a `postgres` user is needed to run the server")
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    folder = Path(tempfile.mkdtemp(prefix="citebot-pg-"))
    if run_as:
        os.chown(folder, run_as["user"], run_as["group"])
    data, log = folder / "data", folder / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([str(bin_dir / args[0]), *args[1:]], check=True, capture_output=True, timeout=60,
                       cwd=folder, **run_as)

    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c timezone={SERVER_TIMEZONE} "
               "-c fsync=off -c full_page_writes=off -c synchronous_commit=off")
    try:
        run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale",
            "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "30", "-o", options, "start")
    except subprocess.CalledProcessError as exc:
        details = exc.stderr.decode(errors="replace")
        details += log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL is installed ({bin_dir}) but could not be started:\n{details}",
                    pytrace=False)
    try:
        yield PostgresServer(port, psycopg)
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False,
                       capture_output=True, timeout=60, cwd=folder, **run_as)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A new, empty database for one test."""
    return postgres.new_database()


def make_pg_bot(tmp_path, dovecot, smtp_sink, monkeypatch, url: str, **options) -> Bot:
    """bot_harness.make_bot with `database_url = url` in [bot] (the harness itself is unchanged)."""
    line = 'data_dir = "var"\n'
    assert line in bot_harness.CONFIG, "bot_harness.CONFIG changed: update make_pg_bot"
    config = bot_harness.CONFIG.replace(line, f'{line}database_url = "{url}"\n')
    monkeypatch.setattr(bot_harness, "CONFIG", config)
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, **options)
    assert bot.rt.cfg.bot.database_url == url
    return bot


@pytest.fixture
def bot(postgres, pg_url, tmp_path, dovecot, smtp_sink, monkeypatch) -> Iterator[Bot]:
    # postgres first: without PostgreSQL the test is skipped before Dovecot is started (or required).
    bot = make_pg_bot(tmp_path, dovecot, smtp_sink, monkeypatch, pg_url, limit=5,
                      extra="[coordination]\nundo_minutes = 0")  # letters at once: the tests count them
    yield bot
    bot.rt.sessions.kw["bind"].dispose()


def cli(bot: Bot, *args: str):
    env = {"TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password}
    result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def sent_of(bot: Bot, kind: str) -> list:
    return [m for m in bot.sent() if m["X-Citebot-Kind"] == kind]


# -- the schema ---------------------------------------------------------------------
def test_the_migrations_create_exactly_the_schema_of_the_models_on_postgresql(pg_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bot.store.db import alembic_config

    engine = make_engine(pg_url)
    try:
        assert engine.dialect.name == "postgresql"  # make_engine's PRAGMAs would fail on connect
        upgrade(engine)
        upgrade(engine)  # idempotent
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- the message path -----------------------------------------------------------------
def test_new_dossiers_and_acknowledgements_survive_what_postgresql_enforces(bot):
    long_id = "<" + "a" * 1500 + "@example.org>"  # longer than message_id's String(998)
    bot.deliver(mail(subject="Fiche projet " + "très long sujet " * 200, message_id=long_id,
                     attachments=[("é" * 300 + ".docx", fiche_bytes()),  # name longer than String(255)
                                  ("budget.pdf", b"%PDF-1.4 budget", "application/" + "x" * 300)]))
    far = "p" * 400 + "@example.org"  # an address longer than String(320)
    bot.deliver(mail(sender=f"Loin <{far}>", headers={"Reply-To": "r" * 400 + "@example.org"},
                     attachments=[("g.docx", fiche_bytes(intitule="Deuxième"))]))
    bot.deliver(mail(sender=far, subject="Question"))  # a reply limited per sender: first_recipient
    report = bot.poll()
    assert report.handled == 3

    first, second = bot.dossiers()
    year = clock.today().year
    assert (first.reference, second.reference) == (f"CE-{year}-0001", f"CE-{year}-0002")  # max(seq) + 1
    assert [i.outcome for i in bot.inbound()] == ["dossier_cree", "dossier_cree", "reponse_envoyee"]
    assert len(bot.inbound()[0].message_id) == 998
    read = check_bytes(fiche_bytes(), bot.rt.rules)
    assert first.versions[0].fields == json.loads(json.dumps(json_value(read.fields)))  # JSON round trip
    assert first.versions[0].findings == [f.as_dict() for f in read.findings]
    assert len(first.documents[0].original_name) <= 255 and first.documents[0].original_name.endswith(".docx")
    assert second.porteur_email == ("r" * 400 + "@example.org")[:320]

    kinds = [m["X-Citebot-Kind"] for m in bot.sent()]
    assert kinds == ["accuse_reception", "accuse_reception", "format_incorrect"]
    assert f"[{first.reference}]" in bot.sent()[0]["Subject"]
    rows = bot.outbox()
    assert all(isinstance(r.raw, bytes) for r in rows)  # BYTEA comes back as bytes
    assert message_from_bytes(rows[0].raw, policy=policy.default)["Message-ID"] == rows[0].message_id
    assert rows[0].status == "sent" and rows[0].sent_at.tzinfo is timezone.utc

    # Datetimes: aware in Python, naive UTC in the database, whatever the server's time zone.
    with bot.rt.sessions() as s:
        assert s.scalar(text("SHOW timezone")) == SERVER_TIMEZONE
        stored = s.scalar(text("SELECT created_at FROM dossier WHERE seq = 1"))
        assert stored.tzinfo is None
        assert stored == first.created_at.astimezone(timezone.utc).replace(tzinfo=None)
        assert abs((clock.now() - first.created_at).total_seconds()) < 60


def test_a_corrected_version_then_a_reply_with_several_fiches(bot):
    bot.deliver(mail(attachments=[("v1.docx", fiche_with_errors())]))
    bot.poll()
    ack = bot.sent()[0]
    [dossier] = bot.dossiers()
    assert dossier.status == "incomplet"
    bot.deliver(mail(subject="Re: " + ack["Subject"].split("] ", 1)[1], in_reply_to=ack["Message-ID"],
                     references=[ack["Message-ID"]], attachments=[("v2.docx", fiche_bytes())]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert [v.number for v in dossier.versions] == [1, 2] and dossier.status == "pret_troika"
    assert f"[{dossier.reference}] Fiche projet complète (version 2) — " in bot.sent()[1]["Subject"]

    # Three fiches in one reply: one outcome per fiche, kept in the detail (the outcome column
    # is a String(40), which PostgreSQL enforces).
    bot.deliver(mail(subject=f"Nos projets {dossier.reference}", attachments=[
        ("v3.docx", fiche_bytes(nb_beneficiaires="60")),
        ("autre.docx", fiche_bytes(intitule="Autre projet")),
        ("encore.docx", fiche_bytes(intitule="Encore un projet"))]))
    assert bot.poll().handled == 1
    assert len(bot.dossiers()) == 3 and len(bot.dossiers()[0].versions) == 3
    assert bot.inbound()[-1].outcome == "plusieurs_issues"
    assert bot.inbound()[-1].detail["fiches"] == ["nouvelle_version", "dossier_cree", "dossier_cree"]


def test_an_avis_favorable_on_postgresql(bot):
    bot.deliver(mail(sender="Karim Benali <karim.benali@ac-lille.fr>", to="chloe.dulieux@ac-lille.fr",
                     attachments=[("lecture.docx", school_time_fiche())]), to="en")
    bot.poll()
    [dossier] = bot.dossiers()
    assert dossier.status == "en_attente_avis"
    [request] = sent_of(bot, "avis_demande")
    bot.deliver(mail(sender="ien.lievin@ac-lille.fr", to="chloe.dulieux@ac-lille.fr",
                     subject="RE: " + request["Subject"],
                     body="Avis favorable. Projet bien construit.\n\nCordialement,\nL'IEN",
                     in_reply_to=request["Message-ID"], references=[request["Message-ID"]]), to="en")
    bot.poll()
    [dossier] = bot.dossiers()
    assert dossier.status == "pret_troika"
    shown = json.loads(cli(bot, "dossiers", "show", dossier.reference, "--json").output)
    assert shown["avis"]["status"] == "favorable" and shown["avis"]["answered_by"] == "ien.lievin@ac-lille.fr"
    with bot.rt.sessions() as s:
        [avis] = s.scalars(select(AvisRequest)).all()
        assert request["Message-ID"] in avis.message_ids and avis.answered_at.tzinfo is timezone.utc
    [notice] = sent_of(bot, "avis_notification")
    assert "Avis favorable" in notice["Subject"]


def test_decide_bilans_and_digest_on_postgresql(bot):
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert "postgresql" in cli(bot, "db", "upgrade").output
    cli(bot, "decide", dossier.reference, "accepte", "--montant", "2 500", "--commentaire", "Bravo.")
    [dossier] = bot.dossiers()
    assert dossier.status == "accepte" and dossier.montant_accorde == "2500.00"
    assert dossier.decided_at.tzinfo is timezone.utc
    assert [(b.kind, b.year, b.due) for b in dossier.bilans] == [("mi_parcours", 2026, date(2026, 12, 31)),
                                                                 ("definitif", 2027, date(2027, 8, 29))]
    assert len(sent_of(bot, "decision_acceptee")) == 1

    assert send_digests(bot.rt, clock.today()) == 2  # the two coordinators of the ville mailbox
    bot.poll()
    assert {m["To"] for m in sent_of(bot, "digest")} == {"f.talaga@lievin.fr", "l.marcq@lievin.fr"}
    with bot.rt.sessions() as s:
        assert all(d.last_sent_at.tzinfo is timezone.utc for d in s.scalars(select(DigestState)))
    assert send_digests(bot.rt, clock.today()) == 0  # nothing new since


def test_a_purge_on_postgresql_empties_json_and_bytea_and_deletes_the_files(bot):
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes()), ("annexe.pdf", b"%PDF-1.4 annexe", "application/pdf")]))
    bot.deliver(mail(subject="Une question", attachments=[("q.pdf", b"%PDF-1.4 question", "application/pdf")]))
    bot.poll()
    [dossier] = bot.dossiers()
    cli(bot, "decide", dossier.reference, "refuse", "--commentaire", "Camille Martin le sait.")
    stored = [p for p in (bot.rt.cfg.bot.data_dir).rglob("*") if p.is_file() and p.parent.parent.name in
              ("messages", "documents")]
    assert len(stored) == 5  # two raw messages, the fiche and two PDFs
    end = date(clock.today().year + 6, 1, 1)  # after the end of the decision's year + 5
    with clock.pinned(end):
        output = cli(bot, "purge", "--dry-run").output
        assert "2\u00a0messages, 5\u00a0fichiers et 3\u00a0courriels" in output and all(p.exists() for p in stored)
        assert "2\u00a0messages, 5\u00a0fichiers et 3\u00a0courriels" in cli(bot, "purge").output
        assert "rien à effacer" in cli(bot, "purge").output
    assert not any(p.exists() for p in stored)
    with bot.rt.sessions() as s:
        assert all((m.raw, m.recipients, m.subject) == (b"", [], "") for m in s.scalars(select(Outbox)))
        [version] = s.scalars(select(Version))
        assert version.document_id is None and "referent_email" not in version.fields
        assert s.scalar(select(Dossier.decision_comment)) is None
        assert "camille" not in json.dumps([e.detail for e in s.scalars(select(Event))])


# -- transactions -----------------------------------------------------------------------
def test_two_transactions_numbering_the_same_reference_lose_nothing(bot, monkeypatch):
    """max(seq)+1 is read in the message's transaction: another one that commits the same number
    meanwhile makes this one fail on uq_dossier_year_seq; the message stays unmarked and the next
    round files it under the next number."""
    from bot.dossier import intake

    real = intake.format_reference
    raced = []

    def racing(prefix, year, seq):
        if not raced:  # another citebot (same database) takes this number first
            raced.append(seq)
            now = clock.now()
            with bot.rt.sessions.begin() as other:
                other.add(Dossier(reference=real(prefix, year, seq), year=year, seq=seq, status="nouveau",
                                  mailbox="ville", coordinators=[], created_at=now, updated_at=now))
        return real(prefix, year, seq)

    monkeypatch.setattr(intake, "format_reference", racing)
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    with pytest.raises(IntegrityError):
        bot.poll()
    assert "$CitebotDone" not in bot.mailbox()[0]["flags"] and bot.outbox() == []
    bot.poll()
    refs = [d.reference for d in bot.dossiers()]
    assert refs == [f"CE-{clock.today().year}-0001", f"CE-{clock.today().year}-0002"]
    assert "$CitebotDone" in bot.mailbox()[0]["flags"]
    assert [r.kind for r in bot.outbox()] == ["accuse_reception"]


def test_a_value_postgresql_refuses_quarantines_the_message_instead_of_blocking_the_mailbox(bot):
    """A NUL character passes SQLite but not PostgreSQL (here in a Message-ID, as a local Maildir
    can deliver it; Dovecot replaces NULs): the message is kept and recorded as an error, and the
    next message of the mailbox is handled in the same round."""

    class Memory:  # the test seam of bot.mailbox: a source of raw messages
        uidvalidity = 1

        def __init__(self, raws):
            self.raws, self.marked = raws, []

        def fetch_after(self, last_uid, **options):
            yield from (Fetched(str(n), raw, len(raw)) for n, raw in enumerate(self.raws, 1) if n > last_uid)

        def mark(self, uid, move=True):
            self.marked.append(uid)

        def close(self):
            pass

    poisoned = mail(message_id="<nul@example.org>", attachments=[("f.docx", fiche_bytes())])
    poisoned = poisoned.replace(b"<nul@example.org>", b"<n\x00ul@example.org>")
    source = Memory([poisoned, mail(attachments=[("g.docx", fiche_bytes(intitule="Suivant"))])])
    empty = Memory([])
    bot.rt.open_source = lambda cfg: source if cfg.name == "ville" else empty
    report = bot.poll()
    assert report.handled == 2 and source.marked == ["1", "2"]
    assert [(i.classification, i.outcome) for i in bot.inbound()] == [("erreur", "erreur_interne"),
                                                                      ("depot", "dossier_cree")]
    assert [d.versions[0].fields["intitule"] for d in bot.dossiers()] == ["Suivant"]

