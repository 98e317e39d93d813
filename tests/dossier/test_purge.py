"""`citebot purge [--dry-run]` on the real stack (security.md, "Retention"): dossiers of
several years filed by polls on Dovecot, decided and given their bilans on pinned days,
then purged on the days rules/retention.toml says, and not a day earlier."""

from __future__ import annotations

import contextlib
import email
import hashlib
import json
from datetime import date, datetime, time
from email import policy

import pytest
from bot_harness import make_bot
from click.testing import CliRunner
from mail_factory import fiche_bytes, mail, school_time_fiche
from sqlalchemy import inspect, select, text

from bot import clock
from bot.cli import main
from bot.dossier import export
from bot.dossier.retention import load_policy
from bot.store.models import Document, Dossier, Event, InboundMessage, MailboxCursor, Outbox, Version

IEN = "ien.lievin@ac-lille.fr"
VILLE = ("f.talaga@lievin.fr", "l.marcq@lievin.fr")
SHARED_ANNEX = b"%PDF-1.7 programme commun aux deux structures"

# What each dossier's porteur wrote: none of it may survive the purge of that dossier.
PAPILLONS = ("camille.martin@example.org", "Camille Martin", "Les petits reporters", "Lire et Dire",
             "Projet Papillons", "Fiche Papillons.docx", "curieux@example.net", "statut pour voir")
JARDINS = ("denise.roussel@example.com", "Denise Roussel", "Jardins partagés", "Vent d'Ouest",
           "Projet Jardins", "bilan 2026.pdf", "bilan final.pdf", "06 11 22 33 44")
LECTURE = ("karim.benali@ac-lille.fr", "Karim Benali", "Lire ensemble en CP", "École élémentaire Jean Jaurès",
           "lecture.docx", "empiète sur les apprentissages")


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    # The letters leave at once (no undo window): the tests count what was sent.
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, en_mode="personnel",
                    extra="[coordination]\nundo_minutes = 0")


@contextlib.contextmanager
def on(day: date, hour: int = 10):
    with clock.pinned(datetime.combine(day, time(hour), clock.PARIS)):
        yield


def cli(bot, *args):
    result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), *args],
                                env={"TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password})
    assert result.exit_code == 0, result.output
    return result.output


def receive(bot, day: date, raw: bytes, to: str = "ville") -> None:
    with on(day):
        bot.deliver(raw, to=to, when=clock.now())
        bot.poll()


def purge(bot, day: date, *options: str) -> str:
    with on(day, hour=3):
        return cli(bot, "purge", *options)


def sent_of(bot, kind: str) -> list:
    return [m for m in bot.sent() if m["X-Citebot-Kind"] == kind]


# --------------------------------------------------------------------------- what the database and disk hold


def stored_files(bot) -> dict[str, tuple[str, int]]:
    """Every raw message and document under data_dir: its content's hash and its mtime."""
    root = bot.rt.cfg.bot.data_dir
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for folder in ("messages", "documents") for p in (root / folder).rglob("*") if p.is_file()}


def tables(bot) -> dict[str, list[tuple]]:
    with bot.rt.sessions() as session:
        connection = session.connection()
        names = sorted(inspect(connection).get_table_names())
        return {name: [tuple(row) for row in connection.execute(text(f"SELECT * FROM {name} ORDER BY 1"))]
                for name in names}


def readable(value) -> str:
    """A stored value as text a person could read: mails decoded (headers, every text part)."""
    if isinstance(value, bytes):
        if not value:
            return ""
        message = email.message_from_bytes(value, policy=policy.default)
        parts = [f"{k}: {v}" for k, v in message.items()]
        parts += [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
        return "\n".join(parts)
    return json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list)) else str(value)


def everything(bot) -> str:
    return "\n".join(readable(v) for rows in tables(bot).values() for row in rows for v in row)


def rows_of(bot, reference: str) -> str:
    """Every row of one dossier as readable text, the messages it was made of included."""
    with bot.rt.sessions() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.reference == reference))
        rows: list = [dossier, *dossier.avis_requests, *dossier.bilans]
        for model in (Version, Document, Event, Outbox):
            rows += session.scalars(select(model).where(model.dossier_id == dossier.id))
        inbound_ids = {r.inbound_id for r in rows if getattr(r, "inbound_id", None)}
        rows += session.scalars(select(InboundMessage).where(InboundMessage.id.in_(inbound_ids)))
        return "\n".join(readable(getattr(row, column.key)) for row in rows for column in row.__table__.columns)


def dangling(bot) -> list[str]:
    """Paths named by a row whose file is not on disk."""
    root = bot.rt.cfg.bot.data_dir
    with bot.rt.sessions() as session:
        named = [*session.scalars(select(InboundMessage.raw_path)), *session.scalars(select(Document.stored_name))]
    return [path for path in named if path and not (root / path).is_file()]


def dossier(bot, reference: str) -> Dossier:
    return next(d for d in bot.dossiers() if d.reference == reference)


def totals(bot) -> dict:
    with bot.rt.sessions() as session:
        return export.totals(export.rows(session.scalars(select(Dossier).order_by(Dossier.id)), bot.rt.rules))


def unchanged_by_dry_run(bot, day: date) -> str:
    before = (tables(bot), stored_files(bot))
    output = purge(bot, day, "--dry-run")
    assert (tables(bot), stored_files(bot)) == before, "a dry run changed something"
    return output


# --------------------------------------------------------------------------- the years of four dossiers


def file_four_dossiers(bot) -> dict[str, str]:
    """Papillons: refused in 2026. Jardins: accepted in 2026, bilans received in 2026 and 2027.
    Lecture: school time, the IEN's avis défavorable in 2026. Théâtre: received in 2027,
    refused in 2028, with the same annex as Papillons. Brouillon: incomplete, never closed."""
    day = date(2026, 3, 2)
    receive(bot, day, mail(subject="Projet Papillons de Liévin", attachments=[
        ("Fiche Papillons.docx", fiche_bytes()), ("programme.pdf", SHARED_ANNEX, "application/pdf")]))
    receive(bot, day, mail(sender="Denise Roussel <denise.roussel@example.com>", subject="Projet Jardins",
                           attachments=[("jardins.docx", fiche_bytes(
                               intitule="Jardins partagés", structure="Centre social Vent d'Ouest",
                               referent_nom="Denise Roussel", referent_email="denise.roussel@example.com",
                               referent_telephone="06 11 22 33 44"))]))
    receive(bot, day, mail(sender="Karim Benali <karim.benali@ac-lille.fr>", to="chloe.dulieux@ac-lille.fr",
                           attachments=[("lecture.docx", school_time_fiche())]), to="en")
    receive(bot, day, mail(sender="Paul Henry <paul.henry@example.net>", subject="Brouillon",
                           attachments=[("brouillon.docx", fiche_bytes(
                               intitule="Brouillon de projet", structure="Collectif Brouillon",
                               referent_nom="Paul Henry", referent_email="paul.henry@"))]))
    by_title = {d.current.fields["intitule"]: d.reference for d in bot.dossiers()}
    refs = {"papillons": by_title["Les petits reporters"], "jardins": by_title["Jardins partagés"],
            "lecture": by_title["Lire ensemble en CP"], "brouillon": by_title["Brouillon de projet"]}

    # A stranger asks for Papillons' status: refused, and recorded on the dossier.
    receive(bot, date(2026, 3, 5), mail(sender="curieux@example.net", subject="statut pour voir",
                                        body=f"statut {refs['papillons']}\nMerci"))
    with on(date(2026, 3, 10)):
        cli(bot, "decide", refs["papillons"], "refuse", "--commentaire", "Camille Martin a déjà un projet.")
        cli(bot, "decide", refs["jardins"], "accepte")
    [request] = sent_of(bot, "avis_demande")
    receive(bot, date(2026, 4, 1), mail(
        sender=IEN, to="chloe.dulieux@ac-lille.fr", subject="RE: " + request["Subject"],
        body="Avis défavorable : le projet empiète sur les apprentissages fondamentaux.",
        in_reply_to=request["Message-ID"], references=[request["Message-ID"]]), to="en")
    receive(bot, date(2026, 12, 5), mail(
        sender="Denise Roussel <denise.roussel@example.com>", subject=f"Bilan {refs['jardins']}",
        attachments=[("bilan 2026.pdf", b"%PDF-1.7 bilan 2026", "application/pdf")]))
    receive(bot, date(2027, 2, 1), mail(sender="Inès Caron <ines.caron@example.org>", subject="Projet Théâtre",
                                        attachments=[("theatre.docx", fiche_bytes(
                                            intitule="Théâtre au collège", structure="Compagnie du Masque",
                                            referent_nom="Inès Caron", referent_email="ines.caron@example.org")),
                                            ("programme.pdf", SHARED_ANNEX, "application/pdf")]))
    refs["theatre"] = next(d.reference for d in bot.dossiers() if d.current.fields["intitule"] == "Théâtre au collège")
    receive(bot, date(2027, 9, 10), mail(
        sender="Denise Roussel <denise.roussel@example.com>", subject=f"Bilan final {refs['jardins']}",
        attachments=[("bilan final.pdf", b"%PDF-1.7 bilan final", "application/pdf")]))
    with on(date(2028, 2, 1)):
        cli(bot, "decide", refs["theatre"], "refuse")

    statuses = {name: dossier(bot, ref).status for name, ref in refs.items()}
    assert statuses == {"papillons": "refuse", "jardins": "accepte", "lecture": "avis_defavorable",
                        "brouillon": "incomplet", "theatre": "refuse"}
    assert [b.received_at is not None for b in dossier(bot, refs["jardins"]).bilans] == [True, True]
    assert refs["theatre"].startswith("CE-2027-")
    return refs


def test_each_dossier_is_purged_the_day_after_its_period_ends_and_not_before(bot):
    refs = file_four_dossiers(bot)
    accounts = totals(bot)
    # What the purge must remove is there to begin with.
    assert all(s in everything(bot) for s in (*PAPILLONS, *LECTURE, *JARDINS))
    assert all(s in rows_of(bot, refs["papillons"]) for s in (*PAPILLONS, *VILLE, "programme.pdf"))
    assert all(s in rows_of(bot, refs["lecture"]) for s in (*LECTURE, IEN, "chloe.dulieux@ac-lille.fr"))

    # Papillons (refused in 2026) and Lecture (avis défavorable in 2026) are kept until 31/12/2031;
    # the answer to the stranger's status request belongs to no dossier: 90 days.
    assert purge(bot, date(2031, 12, 31)).strip().splitlines() == [
        "Purge du 31/12/2031 : données personnelles effacées de 0\u00a0dossier, 0\u00a0message, 0\u00a0fichier et "
        "1\u00a0courriel.",
        "  Sans dossier (messages laissés de côté ou non compris, courriels) : 0\u00a0message, 0\u00a0fichier, "
        "1\u00a0courriel"]

    untouched = {name: rows_of(bot, refs[name]) for name in ("jardins", "brouillon", "theatre")}
    files_before = stored_files(bot)
    planned = unchanged_by_dry_run(bot, date(2032, 1, 1))
    done = purge(bot, date(2032, 1, 1))
    lines = [
        f"  {refs['papillons']} (refusé, conservé jusqu'au 31/12/2031) : 2\u00a0messages, 3\u00a0fichiers, 2\u00a0courriels",
        f"  {refs['lecture']} (avis défavorable, conservé jusqu'au 31/12/2031) : 2\u00a0messages, 3\u00a0fichiers, "
        "4\u00a0courriels",  # the avis notice, and the IEN's comment to the coordinators only
    ]
    assert planned.splitlines() == [
        "Purge à blanc du 01/01/2032 : seraient effacées les données personnelles de 2\u00a0dossiers, 4\u00a0messages, "
        "6\u00a0fichiers et 6\u00a0courriels. Rien n'a été modifié.", *lines]
    assert done.splitlines() == [
        "Purge du 01/01/2032 : données personnelles effacées de 2\u00a0dossiers, 4\u00a0messages, 6\u00a0fichiers et "
        "6\u00a0courriels.", *lines]

    # Exactly the six files of Papillons and Lecture are gone; the annex Théâtre shares stays.
    gone = set(files_before) - set(stored_files(bot))
    assert len(gone) == 6 and set(stored_files(bot)) | gone == set(files_before)
    digest = hashlib.sha256(SHARED_ANNEX).hexdigest()
    annex = f"documents/{digest[:2]}/{digest}.pdf"
    assert annex in stored_files(bot)
    assert dangling(bot) == []
    # Nothing of them is left, in any table; the other dossiers did not move.
    for ref, personal in ((refs["papillons"], PAPILLONS), (refs["lecture"], LECTURE)):
        shown = rows_of(bot, ref)
        assert [s for s in (*personal, *VILLE, IEN, "chloe.dulieux@ac-lille.fr", "programme.pdf") if s in shown] == []
    assert [s for s in (*PAPILLONS, *LECTURE) if s in everything(bot)] == []
    assert {name: rows_of(bot, refs[name]) for name in untouched} == untouched

    # Ending tomorrow, ending today: Jardins stays (its last bilan was received in 2027).
    for day in (date(2032, 12, 30), date(2032, 12, 31)):
        assert "rien à effacer" in purge(bot, day)
    assert all(s in everything(bot) for s in JARDINS)
    assert purge(bot, date(2033, 1, 1)).splitlines()[1] == (
        f"  {refs['jardins']} (accepté, conservé jusqu'au 31/12/2032) : 3\u00a0messages, 6\u00a0fichiers, 4\u00a0courriels")
    assert [s for s in JARDINS if s in everything(bot)] == []
    assert all(s in everything(bot) for s in ("ines.caron@example.org", "Théâtre au collège", "paul.henry@"))

    # Théâtre (refused in 2028) goes a year later, and the shared annex with it; Brouillon, open, never.
    assert f"  {refs['theatre']} (refusé, conservé jusqu'au 31/12/2033)" in purge(bot, date(2034, 1, 1))
    assert annex not in stored_files(bot)
    assert "Brouillon de projet" in everything(bot) and dossier(bot, refs["brouillon"]).status == "incomplet"
    assert "rien à effacer" in purge(bot, date(2099, 1, 1))
    assert dangling(bot) == []

    # What the city's accounts need is still there, and adds up as before.
    assert totals(bot) == accounts
    jardins = dossier(bot, refs["jardins"])
    assert (jardins.status, jardins.montant_accorde, jardins.porteur_email, jardins.coordinators) == (
        "accepte", "3000.00", None, [])
    assert [(b.kind, b.year, b.received_at is not None, b.document_id) for b in jardins.bilans] == [
        ("mi_parcours", 2026, True, None), ("definitif", 2027, True, None)]
    [version] = jardins.versions
    assert set(version.fields) <= load_policy().keep_fields and version.fields["montant_sollicite"] == "3000.00"
    assert (version.document_id, version.findings) == (None, [])


def test_the_history_stays_without_personal_data_and_says_what_went(bot):
    refs = file_four_dossiers(bot)
    with bot.rt.sessions() as session:
        kinds_before = {ref: [e.kind for e in session.scalars(select(Event).join(Dossier).where(
            Dossier.reference == ref).order_by(Event.id))] for ref in (refs["papillons"], refs["lecture"])}
    assert "statut_refuse" in kinds_before[refs["papillons"]] and "avis_recu" in kinds_before[refs["lecture"]]
    purge(bot, date(2032, 1, 1))

    for ref, personal in ((refs["papillons"], PAPILLONS), (refs["lecture"], LECTURE)):
        shown = json.loads(cli(bot, "dossiers", "show", ref, "--json"))
        assert [e["kind"] for e in shown["events"]] == kinds_before[ref] + ["purge"]  # the trail is whole
        history = json.dumps(shown["events"], ensure_ascii=False)
        assert [s for s in (*personal, *VILLE, IEN, "programme.pdf", "@") if s in history] == []
        assert (shown["porteur"], shown["coordinators"], shown["documents"]) == (None, [], [])
        assert all(m["to"] == [] and m["subject"] == "" and m["status"] == "sent" for m in shown["mails"])
        assert [v["document"] for v in shown["versions"]] == [None]
        text_view = cli(bot, "dossiers", "show", ref)
        assert "données personnelles effacées (durée de conservation échue)" in text_view
    lecture = json.loads(cli(bot, "dossiers", "show", refs["lecture"], "--json"))
    assert (lecture["avis"]["status"], lecture["avis"]["answered_by"], lecture["avis"]["comment"]) == (
        "defavorable", None, None)
    assert lecture["events"][-1]["detail"] == {"messages": 2, "documents": 1, "versions": 1, "courriels": 4,
                                               "evenements": lecture["events"][-1]["detail"]["evenements"],
                                               "conserve_jusqu_au": "2031-12-31", "fichiers": 3}
    papillons = json.loads(cli(bot, "dossiers", "show", refs["papillons"], "--json"))
    assert papillons["decision"]["comment"] is None and papillons["decision"]["status"] == "refuse"


def test_a_second_purge_deletes_nothing_and_a_purged_message_is_never_answered_again(bot):
    refs = file_four_dossiers(bot)
    purge(bot, date(2032, 1, 1))
    before = (tables(bot), stored_files(bot))
    assert "rien à effacer" in purge(bot, date(2032, 1, 1))
    assert "rien à effacer" in purge(bot, date(2032, 6, 1))
    assert (tables(bot), stored_files(bot)) == before

    # The position and hash of each purged message stay: offered again by its mailbox (a new
    # UIDVALIDITY, the keyword removed by a client; a Maildir offers every key), it is known.
    with bot.dovecot.client(bot.ville.user) as client:
        client.select_folder("INBOX")
        client.remove_flags(client.search(["ALL"]), ["$CitebotDone"])
    with bot.rt.sessions.begin() as session:
        cursor = session.get(MailboxCursor, "ville")
        cursor.uidvalidity, cursor.last_uid = cursor.uidvalidity + 1, 0
    mails_before = len(bot.sent())
    with on(date(2032, 6, 2)):
        report = bot.poll()
    assert (report.handled, report.skipped) == (0, 7) and len(bot.sent()) == mails_before
    assert dossier(bot, refs["papillons"]).porteur_email is None


# --------------------------------------------------------------------------- messages of no dossier


def test_messages_left_alone_or_not_understood_go_after_90_days_with_our_answers(bot):
    day = date(2026, 6, 10)
    receive(bot, day, mail(sender="Hugo Lefèvre <hugo.lefevre@example.net>", subject="Question Hugo",
                           attachments=[("question hugo.pdf", b"%PDF-1.7 une question", "application/pdf")]))
    receive(bot, day, mail(sender="Nadia Bouzid <nadia.bouzid@example.com>", subject="Absence de Nadia",
                           headers={"Auto-Submitted": "auto-replied"}))
    receive(bot, day, mail(sender="Collègue <collegue@ac-lille.fr>", to="chloe.dulieux@ac-lille.fr",
                           subject="Réunion REP jeudi"), to="en")  # a personnel mailbox's own mail
    receive(bot, day, mail(sender="Inès Caron <ines.caron@example.org>", attachments=[
        ("theatre.docx", fiche_bytes(intitule="Théâtre au collège", referent_nom="Inès Caron"))]))
    with on(day, hour=18):
        from bot.dossier.digest import send_digests

        assert send_digests(bot.rt, day) == 2  # the two city coordinators: a dossier, a question
        bot.poll()
    outcomes = [(m.classification, m.outcome) for m in bot.inbound()]
    assert outcomes == [("format_incorrect", "reponse_envoyee"), ("automatique", "enregistre"),
                        ("hors_appel", "ignore"), ("depot", "dossier_cree")]
    personal = ("hugo.lefevre@example.net", "Hugo", "question hugo.pdf", "nadia.bouzid@example.com", "Nadia")
    assert all(s in everything(bot) for s in personal)

    for kept in (date(2026, 9, 7), date(2026, 9, 8)):  # 89 and 90 days later
        assert "rien à effacer" in unchanged_by_dry_run(bot, kept)
        assert "rien à effacer" in purge(bot, kept)
    files_before, dossier_before = stored_files(bot), rows_of(bot, bot.dossiers()[0].reference)
    line = "  Sans dossier (messages laissés de côté ou non compris, courriels) : 2\u00a0messages, 3\u00a0fichiers, 3\u00a0courriels"
    assert unchanged_by_dry_run(bot, date(2026, 9, 9)).splitlines()[1] == line  # 91 days later
    assert purge(bot, date(2026, 9, 9)).splitlines() == [
        "Purge du 09/09/2026 : données personnelles effacées de 0\u00a0dossier, 2\u00a0messages, 3\u00a0fichiers et "
        "3\u00a0courriels.", line]

    assert [s for s in personal if s in everything(bot)] == []
    assert len(set(files_before) - set(stored_files(bot))) == 3 and dangling(bot) == []
    assert rows_of(bot, bot.dossiers()[0].reference) == dossier_before  # an open dossier, its mails included
    assert [(m.classification, m.outcome, m.raw_path, m.from_addr, m.subject) for m in bot.inbound()][:3] == [
        ("format_incorrect", "reponse_envoyee", "", None, ""), ("automatique", "enregistre", "", None, ""),
        ("hors_appel", "ignore", "", None, "")]
    loose = [m for m in bot.outbox() if m.dossier_id is None]
    assert sorted(m.kind for m in loose) == ["digest", "digest", "format_incorrect"]
    assert all((m.raw, m.recipients, m.subject, m.first_recipient) == (b"", [], "", "") for m in loose)
    with bot.rt.sessions() as session:
        [event] = session.scalars(select(Event).where(Event.kind == "purge"))
        assert (event.dossier_id, event.detail) == (None, {"messages": 2, "documents": 1, "versions": 0,
                                                           "courriels": 3, "evenements": 0, "fichiers": 3})
    assert "rien à effacer" in purge(bot, date(2026, 9, 10))


def test_a_purge_interrupted_before_its_files_are_deleted_is_finished_by_the_next(bot, monkeypatch):
    day = date(2026, 5, 10)
    receive(bot, day, mail(sender="Hugo Lefèvre <hugo.lefevre@example.net>", subject="Question Hugo",
                           attachments=[("question hugo.pdf", b"%PDF-1.7 une question", "application/pdf")]))
    files_before = stored_files(bot)

    from bot.dossier import purge as purging

    def the_process_ends_after_the_commit(*args):
        raise SystemExit("killed")

    with monkeypatch.context() as patch, on(date(2026, 10, 1)), pytest.raises(SystemExit):
        patch.setattr(purging, "_delete_files", the_process_ends_after_the_commit)
        purging.run_purge(bot.rt, date(2026, 10, 1))
    assert stored_files(bot) == files_before  # rows emptied, files still there: no row names them
    assert dangling(bot) == []
    assert purge(bot, date(2026, 10, 2)).splitlines() == [
        "Purge du 02/10/2026 : données personnelles effacées de 0\u00a0dossier, 0\u00a0message, 2\u00a0fichiers et "
        "0\u00a0courriel.", "  Fichiers restés d'une purge interrompue : 2"]
    assert stored_files(bot) == {}
    with bot.rt.sessions() as session:
        [event] = session.scalars(select(Event).where(Event.kind == "purge"))
        assert "fichiers_a_effacer" not in event.detail and event.detail["fichiers"] == 2
    assert "rien à effacer" in purge(bot, date(2026, 10, 3))


def test_a_file_named_again_by_a_new_row_is_not_deleted(bot):
    """Content-addressed: the same attachment sent again after 90 days is the same file."""
    question = ("question.pdf", b"%PDF-1.7 la meme question", "application/pdf")
    receive(bot, date(2026, 5, 10), mail(sender="hugo.lefevre@example.net", subject="Q1", attachments=[question]))
    receive(bot, date(2026, 8, 1), mail(sender="hugo.lefevre@example.net", subject="Q2", attachments=[question]))
    shared = [p for p in stored_files(bot) if p.startswith("documents/")]
    assert len(shared) == 1
    output = purge(bot, date(2026, 8, 11))  # the first is 93 days old, the second 10
    assert "1\u00a0message, 1\u00a0fichier, 1\u00a0courriel" in output  # its raw message only
    assert shared[0] in stored_files(bot) and dangling(bot) == []
    with bot.rt.sessions() as session:
        assert session.scalars(select(Document.stored_name)).all() == shared  # the second message's
