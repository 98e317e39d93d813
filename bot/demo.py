"""`citebot demo`: a whole cycle on a local Maildir, no server needed.

Writes a configuration in the folder, drops four sample submissions into the
intake mailboxes (a complete fiche, one with errors, a PDF instead of a Word
file, a school-time project sent to the wrong mailbox), runs one polling round
and shows the dossiers and the mails written as .eml files (the four answers,
and the request for the IEN's opinion on the school-time project).
"""

from __future__ import annotations

import email
import email.policy
import logging
import mailbox
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import click

from bot import clock
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

[[mailbox]]
name = "ville"
address = "l.marcq@lievin.fr"
mode = "personnel"
kind = "maildir"
path = "boites/ville"
coordinators = ["f.talaga@lievin.fr", "l.marcq@lievin.fr"]
porteur_types = ["service_ville", "association", "structure_partenaire", "secteur_prive"]

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


def run_demo(folder: Path) -> int:
    from bot.config import load_config
    from bot.dossier.views import list_dossiers, table
    from bot.poller import Runtime, poll_once
    from bot.store.db import open_database

    logging.getLogger().setLevel(logging.WARNING)  # the story is on stdout
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    cfg = load_config(config_path)
    for name, raw in _samples():
        path = cfg.mailbox(name).path
        path.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(path, create=True).add(raw)
    click.echo(f"Quatre dépôts d'exemple et le courriel d'une collègue déposés dans {folder / 'boites'}.")

    rt = Runtime(cfg=cfg, rules=load_rules(), sessions=open_database(cfg.bot.data_dir, cfg.bot.database_url))
    report = poll_once(rt)
    click.echo(f"Passage terminé : {report.handled} message(s) relevé(s), dont {report.left_alone} sans rapport avec "
               f"l'appel (laissé(s) tel(s) quel(s), sans réponse ni copie) ; "
               f"{report.sending.sent} courriel(s) écrit(s).\n")
    with rt.sessions() as session:
        click.echo(table(list_dossiers(session)))
    outbox = cfg.smtp.path / "new"
    click.echo(f"\nCourriels envoyés (fichiers .eml) : {outbox}")
    for path in sorted(outbox.iterdir()):
        sent = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        click.echo(f"  {path.name}\n      à {sent['To']} : {sent['Subject']}")
    click.echo(f"\nPour voir un dossier : citebot --config {config_path} dossiers show CE-{clock.today().year}-0001")
    return 0
