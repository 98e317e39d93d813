"""No address, name or subject in the logs at INFO, WARNING or ERROR
(security.md, "Files and logs"); `-v` (DEBUG) may show them.

An SMTP server's refusal quotes the address it refuses; the text is logged with
its addresses masked, its code and words kept. Checked on the real stack: a
real Dovecot, the aiosmtpd sink refusing recipients as Postfix does, a real
SQLite file, every log record of the process captured.
"""

from __future__ import annotations

import logging

import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, mail, school_time_fiche
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.form.samples import COMPLETE, SCHOOL_TIME
from bot.mail.redact import ADDRESS, without_addresses
from bot.store.db import open_database

CAMILLE = ("Camille Martin", "camille.martin@example.org")  # the sample fiche's référent, and its sender
JEANNE = ("Jeanne Petit", "jeanne.petit@example.org")  # sends Karim Benali's school-time fiche
SUBJECTS = ("Fiche projet Les petits reporters", "Notre projet lecture pour les CP")
REFUSED = "550 5.1.1 <camille.martin@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
IEN_REFUSED = "550 5.1.1 <ien.lievin@ac-lille.fr>: Recipient address rejected: User unknown"
GREYLISTED = "451 4.7.1 <jeanne.petit@example.org>: Recipient address rejected: Greylisted, try again later"


def personal_data(bot) -> set[str]:
    """Every address, name and subject of the cycle: porteurs, référents, coordinators, IEN, the bot."""
    cfg = bot.rt.cfg
    found = {*CAMILLE, *JEANNE, *SUBJECTS, "camille.martin", "jeanne.petit", cfg.bot.address, *cfg.avis.ien}
    for fields in (COMPLETE, SCHOOL_TIME):
        found |= {fields["referent_nom"], fields["referent_email"], fields["intitule"]}
    for box in cfg.mailboxes:
        found |= {box.address, *box.coordinators}
    return found


def test_a_cycle_with_smtp_refusals_logs_no_address_name_or_subject(tmp_path, dovecot, smtp_sink, monkeypatch,
                                                                    caplog):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    smtp_sink.refuse_recipient(CAMILLE[1], REFUSED)  # the acknowledgement: refused for good
    smtp_sink.refuse_recipient("ien.lievin@ac-lille.fr", IEN_REFUSED)  # the avis request: refused for good
    smtp_sink.respond_with([GREYLISTED])  # the next mail's DATA: deferred
    bot.deliver(mail(sender=f"{CAMILLE[0]} <{CAMILLE[1]}>", subject=SUBJECTS[0],
                     attachments=[("Fiche projet.docx", fiche_bytes())]))
    bot.deliver(mail(sender=f"{JEANNE[0]} <{JEANNE[1]}>", subject=SUBJECTS[1],
                     attachments=[("Lire ensemble.docx", school_time_fiche())]))
    caplog.set_level(logging.DEBUG)
    report = bot.poll()
    assert report.handled == 2 and len(bot.dossiers()) == 2
    outbox = {row.status for row in bot.outbox()}
    assert {"failed", "pending"} <= outbox, [(r.kind, r.status, r.last_error) for r in bot.outbox()]

    # The bot's process only: aiosmtpd ("mail.log") is the test's server, and logs every RCPT TO.
    records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    shown = [logging.Formatter("%(levelname)s %(name)s: %(message)s").format(r) for r in records
             if r.levelno >= logging.INFO]
    logged = "\n".join(shown)
    assert "refused for good" in logged and "deferred" in logged  # the refusals were logged …
    leaks = {value for value in personal_data(bot) if value.lower() in logged.lower()}
    assert leaks == set(), [line for line in shown if any(v.lower() in line.lower() for v in leaks)]
    assert "[address]: 550 b'5.1.1 <[address]>: Recipient address rejected: User unknown in virtual" in logged
    assert "451 4.7.1 <[address]>: Recipient address rejected: Greylisted" in logged  # … code and words kept

    # The whole text stays for the coordinators (dossiers show) and for -v.
    assert any(CAMILLE[1] in (row.last_error or "") for row in bot.outbox())
    debug = "\n".join(r.getMessage() for r in records if r.levelno == logging.DEBUG)
    assert CAMILLE[1] in debug and "jeanne.petit@example.org" in debug


@pytest.mark.parametrize("server_text, logged", [
    (REFUSED, "550 5.1.1 <[address]>: Recipient address rejected: User unknown in virtual mailbox table"),
    ("camille.martin@example.org: 550 b'5.1.1 <camille.martin@example.org>: Recipient address rejected'",
     "[address]: 550 b'5.1.1 <[address]>: Recipient address rejected'"),
    ("adresse non ASCII et serveur sans SMTPUTF8 : josé.gonçalves@exemple.fr, karim.benali@ac-lille.fr",
     "adresse non ASCII et serveur sans SMTPUTF8 : [address], [address]"),
    ('550 5.1.1 <"Camille Martin"@example.org>: bad address', "550 5.1.1 <[address]>: bad address"),
    ("550 5.1.1 jean.d'arc@example.org unknown; postmaster@[192.0.2.1] too",
     "550 5.1.1 [address] unknown; [address] too"),
    ("421 4.3.2 Service not available, closing transmission channel",
     "421 4.3.2 Service not available, closing transmission channel"),
])
def test_an_smtp_text_loses_its_addresses_and_keeps_the_rest(server_text, logged):
    assert without_addresses(server_text) == logged
    assert ADDRESS == "[address]"


def test_a_database_error_does_not_carry_its_parameters(tmp_path):
    sessions = open_database(tmp_path / "var", f"sqlite:///{tmp_path / 'var' / 'citebot.sqlite3'}")
    with sessions() as session, pytest.raises(OperationalError) as raised:
        session.execute(text("SELECT * FROM no_such_table WHERE sender = :sender"), {"sender": CAMILLE[1]})
    assert CAMILLE[1] not in str(raised.value) and "no_such_table" in str(raised.value)
