"""`citebot demo`: a whole cycle on a local Maildir, no server needed, on a demo clock.

Writes a configuration in the folder, drops four sample submissions into the
intake mailboxes (a complete fiche, one with errors, a PDF instead of a Word
file, a school-time project sent to the wrong mailbox), runs one polling round
and shows the dossiers and the mails written as .eml files (the four answers,
and the request for the IEN's opinion on the school-time project). Then the story
goes on: the IEN's favourable reply, the morning digest, a coordinator's reply to
it after the troïka (ACCEPTÉ …, REFUSÉ …) and its answer, the undo window elapsed
and the letters, a bilan reminder on 1 December — each step printed.
"""

from __future__ import annotations

import email
import email.policy
import logging
import mailbox
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import click

from bot import clock
from bot import text as typography
from bot.form.samples import sample_files
from bot.rules import load_rules

CONFIG = """\
# Configuration written by `citebot demo`: local Maildirs in, .eml files out.
[bot]
name = "Cité éducative de Liévin"
address = "cite-educative@lievin.fr"
data_dir = "var"

[smtp]
transport = "maildir"
path = "courriels-envoyes"

[[mailbox]]
name = "education_nationale"
address = "chloe.dulieux@ac-lille.fr"
mode = "personnel"  # the coordinator's own inbox: only mail about the call is handled
kind = "maildir"
path = "boites/education_nationale"
coordinators = ["chloe.dulieux@ac-lille.fr"]
porteur_types = ["education_nationale"]
signature = '''
Chloé Dulieux, coordonnatrice de la Cité éducative (Éducation nationale)
06 45 53 75 03 · chloe.dulieux@ac-lille.fr'''

[[mailbox]]
name = "ville"
address = "l.marcq@lievin.fr"
mode = "personnel"
kind = "maildir"
path = "boites/ville"
coordinators = ["f.talaga@lievin.fr", "l.marcq@lievin.fr"]
porteur_types = ["service_ville", "association", "structure_partenaire", "secteur_prive"]
signature = '''
Laurence Marcq, coordinatrice de la Cité éducative (Ville de Liévin)
03 21 45 65 08 · l.marcq@lievin.fr'''

[avis]
ien = ["ien.lievin@ac-lille.fr"]
reply_mailbox = "education_nationale"
"""


def _message(sender: str, to: str, subject: str, body: str, attachment: tuple[str, bytes, str] | None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain="exemple.org")
    msg.set_content(body)
    if attachment:
        name, data, ctype = attachment
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def _samples() -> list[tuple[str, bytes]]:
    """(mailbox name, raw message): the four sample submissions, and a colleague's
    mail in the same inbox, which the bot must leave alone."""
    files = sample_files(load_rules())
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return [
        ("ville", _message("Camille Martin <camille.martin@example.org>", "l.marcq@lievin.fr",
                           "Fiche projet Les petits reporters", "Bonjour,\nVoici notre fiche projet.\n",
                           ("Fiche projet - Les petits reporters.docx", files["exemple-fiche-complete.docx"], docx))),
        ("ville", _message("Camille Martin <camille.martin@example.org>", "l.marcq@lievin.fr",
                           "Projet atelier vidéo", "Bonjour,\nCi-joint notre projet.\n",
                           ("atelier-video.docx", files["exemple-fiche-avec-erreurs.docx"], docx))),
        ("ville", _message("Jeanne Petit <jeanne.petit@example.org>", "l.marcq@lievin.fr",
                           "Dossier cité éducative", "Bonjour,\nVoici notre dossier en PDF.\n",
                           ("dossier.pdf", b"%PDF-1.7\n% exemple\n", "application/pdf"))),
        ("ville", _message("Karim Benali <karim.benali@ac-lille.fr>", "l.marcq@lievin.fr",
                           "Projet lecture CP", "Bonjour,\nNotre projet sur le temps scolaire.\n",
                           ("Lire ensemble.docx", files["exemple-fiche-temps-scolaire.docx"], docx))),
        ("ville", _message("Sophie Lenoir <s.lenoir@lievin.fr>", "l.marcq@lievin.fr",
                           "Réunion de service jeudi", "Bonjour,\nJe te propose jeudi 14 h pour la réunion.\n"
                           "Sophie\n", ("ordre-du-jour.pdf", b"%PDF-1.7\n% ordre du jour\n", "application/pdf"))),
    ]


# The story's days (Europe/Paris): submissions on Monday, the IEN's answer on Tuesday, the digest
# and the troïka on Thursday, the letters half an hour later, a bilan reminder on 1 December.
SUBMITTED = datetime(2026, 11, 23, 9, 0, tzinfo=clock.PARIS)
IEN_ANSWERS = datetime(2026, 11, 24, 10, 15, tzinfo=clock.PARIS)
DIGEST = datetime(2026, 11, 26, 7, 45, tzinfo=clock.PARIS)
TROIKA = datetime(2026, 11, 26, 19, 5, tzinfo=clock.PARIS)
BILAN_REMINDER = datetime(2026, 12, 1, 8, 30, tzinfo=clock.PARIS)


def _reply(sender: str, to: str, subject: str, body: str, replied: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain="exemple.org")
    msg["In-Reply-To"], msg["References"] = replied, replied
    msg.set_content(body)
    return bytes(msg)


class Story:
    """The demo's steps, each printed as it happens."""

    def __init__(self, folder: Path):
        from bot.config import load_config
        from bot.poller import Runtime
        from bot.store.db import open_database

        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / "config.toml"
        self.config_path.write_text(CONFIG, encoding="utf-8")
        self.cfg = load_config(self.config_path)
        self.rt = Runtime(cfg=self.cfg, rules=load_rules(),
                          sessions=open_database(self.cfg.bot.data_dir, self.cfg.bot.database_url))
        self.outbox = self.cfg.smtp.path / "new"
        self.shown: set[str] = set()

    def drop(self, mailbox_name: str, raw: bytes) -> None:
        path = self.cfg.mailbox(mailbox_name).path
        path.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(path, create=True).add(raw)

    def poll(self):
        from bot.poller import poll_once

        return poll_once(self.rt)

    def step(self, number: int, title: str) -> None:
        click.echo(f"\n== {number}. {clock.now().astimezone(clock.PARIS):%d/%m/%Y %H:%M} — {title}")

    def new_mails(self) -> list:
        """The .eml files written since the last look, each printed once."""
        found = []
        for path in sorted(self.outbox.iterdir(), key=lambda p: p.stat().st_mtime_ns) if self.outbox.is_dir() else ():
            if path.name in self.shown:
                continue
            self.shown.add(path.name)
            sent = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            click.echo(f"  courriel écrit ({path.name})\n      à {sent['To']} : {sent['Subject']}")
            found.append(sent)
        return found

    def dossiers(self) -> None:
        from bot.dossier.views import list_dossiers, table

        with self.rt.sessions() as session:
            click.echo("\n" + "\n".join("  " + line for line in table(list_dossiers(session)).splitlines()))

    def message_id(self, kind: str, to: str) -> str:
        from sqlalchemy import select

        from bot.store.models import Outbox

        with self.rt.sessions() as session:
            rows = session.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id.desc())).all()
            return next(r.message_id for r in rows if to in r.recipients)


def run_demo(folder: Path) -> int:
    logging.getLogger().setLevel(logging.WARNING)  # the story is on stdout
    with clock.pinned(SUBMITTED):
        story = Story(folder)
        for name, raw in _samples():
            story.drop(name, raw)
        story.step(1, "les dépôts")
        click.echo(f"Quatre dépôts d'exemple et le courriel d'une collègue déposés dans {folder / 'boites'}.")
        report = story.poll()
        click.echo(f"Passage terminé : {typography.plural(report.handled, 'message relevé')}, dont "
                   f"{report.left_alone} sans rapport avec l'appel (laissé tel quel, sans réponse ni copie) ; "
                   f"{typography.plural(report.sending.sent, 'courriel écrit')}.")
        story.dossiers()
        click.echo(f"\nCourriels envoyés (fichiers .eml) : {story.outbox}")
        story.new_mails()
    year = SUBMITTED.year
    with clock.pinned(IEN_ANSWERS):
        story.step(2, "l'IEN répond « favorable » à la demande d'avis")
        story.drop("education_nationale", _reply(
            "IEN de Liévin <ien.lievin@ac-lille.fr>", "chloe.dulieux@ac-lille.fr", "RE: Demande d'avis",
            "Bonjour,\n\nAvis favorable : le projet s'articule bien avec le projet d'école.\n\nCordialement,\nL'IEN\n",
            story.message_id("avis_demande", "ien.lievin@ac-lille.fr")))
        story.poll()
        story.new_mails()
        click.echo("  (le commentaire de l'IEN va à la coordination seule ; le porteur reçoit l'avis sans lui)")
    with clock.pinned(DIGEST):
        from bot.dossier.digest import send_digests

        story.step(3, "le point du matin aux coordinatrices et coordinateurs")
        send_digests(story.rt, clock.today())
        story.poll()
        story.new_mails()
    with clock.pinned(TROIKA):
        story.step(4, "après la troïka, Laurence Marcq répond au point depuis son téléphone")
        commands = (f"ACCEPTÉ CE-{year}-0001 2 500 € — un très beau projet\n"
                    f"REFUSÉ CE-{year}-0003 — le budget dépasse l'enveloppe de l'école\n")
        click.echo("".join(f"  > {line}\n" for line in commands.splitlines()), nl=False)
        story.drop("ville", _reply("Laurence Marcq <l.marcq@lievin.fr>", "l.marcq@lievin.fr", "RE: Point",
                                   commands + "\nLaurence\nEnvoyé de mon iPhone\n",
                                   story.message_id("digest", "l.marcq@lievin.fr")))
        story.poll()
        for sent in story.new_mails():
            if sent["X-Citebot-Kind"] == "commandes_resultat":
                body = sent.get_body(("plain",)).get_content()
                click.echo("".join(f"      | {line}\n" for line in body.splitlines()[:12]), nl=False)
        click.echo(f"  Les courriers aux porteurs attendent {story.cfg.coordination.undo_minutes} minutes "
                   "(ANNULER les retiendrait).")
    with clock.pinned(TROIKA + timedelta(minutes=story.cfg.coordination.undo_minutes + 1)):
        story.step(5, "le délai d'annulation est passé : les courriers partent")
        story.poll()
        story.new_mails()
    with clock.pinned(BILAN_REMINDER):
        from bot.dossier.reminders import run_reminders

        story.step(6, "1er décembre : rappel du bilan de mi-parcours au porteur retenu")
        click.echo(f"  {run_reminders(story.rt, clock.today())}")
        story.poll()
        story.new_mails()
        story.dossiers()
    click.echo(f"\nPour voir un dossier : citebot --config {story.config_path} dossiers show CE-{year}-0001")
    return 0
