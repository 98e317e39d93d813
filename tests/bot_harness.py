"""A citebot wired to the real test servers: two IMAP mailboxes on Dovecot,
SMTP to the aiosmtpd sink, a real SQLite file migrated by Alembic."""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email import policy
from pathlib import Path

from sqlalchemy import select

from bot.config import load_config
from bot.mail.transports import SmtpTransport
from bot.poller import Hooks, Runtime, poll_once
from bot.rules import load_rules
from bot.store.db import open_database
from bot.store.models import Dossier, InboundMessage, Outbox

CONFIG = """
[bot]
name = "Cité éducative de Liévin"
address = "cite-educative@lievin.fr"
data_dir = "var"
authserv_id = "{authserv_id}"

[smtp]
transport = "smtp"
host = "{smtp_host}"
port = {smtp_port}
security = "none"

[[mailbox]]
name = "education_nationale"
address = "chloe.dulieux@ac-lille.fr"
mode = "{en_mode}"
kind = "imap"
host = "{imap_host}"
port = {imap_port}
security = "none"
username = "{en_user}"
password_env = "TEST_EN_PASSWORD"
coordinators = ["chloe.dulieux@ac-lille.fr"]
porteur_types = ["education_nationale"]

[[mailbox]]
name = "ville"
address = "l.marcq@lievin.fr"
mode = "{ville_mode}"
kind = "imap"
host = "{imap_host}"
port = {imap_port}
security = "none"
username = "{ville_user}"
password_env = "TEST_VILLE_PASSWORD"
folder = "{ville_folder}"
{ville_extra}
coordinators = ["f.talaga@lievin.fr", "l.marcq@lievin.fr"]
porteur_types = ["service_ville", "association", "structure_partenaire", "secteur_prive"]

[avis]
ien = ["ien.lievin@ac-lille.fr"]
reply_mailbox = "education_nationale"

[limits]
auto_replies_per_sender_per_day = {limit}
{extra}
"""


@dataclass
class Bot:
    rt: Runtime
    dovecot: object
    sink: object
    en: object  # ImapAccount
    ville: object

    def deliver(self, raw: bytes, to: str = "ville", when: datetime | None = None) -> int:
        """Into a mailbox, received now or `when` (the message's INTERNALDATE)."""
        account = getattr(self, to)
        return self.dovecot.append(account.user, raw, folder=self.rt.cfg.mailbox(
            "ville" if to == "ville" else "education_nationale").folder, msg_time=when)

    def poll(self, hooks: Hooks | None = None):
        self.rt.hooks = hooks or Hooks()
        return poll_once(self.rt)

    def mailbox(self, to: str = "ville") -> list[dict]:
        return self.dovecot.messages(getattr(self, to).user)

    def dossiers(self) -> list[Dossier]:
        with self.rt.sessions() as s:
            found = s.scalars(select(Dossier).order_by(Dossier.id)).all()
            for d in found:  # load what tests look at
                _ = [v.fields for v in d.versions], [e.kind for e in d.events], d.documents, d.bilans
            return list(found)

    def inbound(self) -> list[InboundMessage]:
        with self.rt.sessions() as s:
            return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))

    def outbox(self) -> list[Outbox]:
        with self.rt.sessions() as s:
            return list(s.scalars(select(Outbox).order_by(Outbox.id)))

    def sent(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(r.data, policy=policy.default) for r in self.sink.received]


def make_bot(tmp_path: Path, dovecot, smtp_sink, monkeypatch, limit: int = 5, ville_folder: str = "INBOX",
             ville_extra: str = "", authserv_id: str = "", extra: str = "", mode: str = "dedie",
             en_mode: str | None = None, imap_port: int | None = None) -> Bot:
    """A bot on the test servers. Its mailboxes are `dedie` unless told otherwise: most
    tests are about what is done with mail about the call. `extra`: more TOML after the
    keys of [limits]; `imap_port`: where the bot reaches Dovecot (a proxy)."""
    en, ville = dovecot.new_account("en"), dovecot.new_account("ville")
    if ville_folder != "INBOX":
        dovecot.create_folder(ville.user, ville_folder)
    monkeypatch.setenv("TEST_EN_PASSWORD", en.password)
    monkeypatch.setenv("TEST_VILLE_PASSWORD", ville.password)
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, imap_host=dovecot.host,
                                  imap_port=imap_port or dovecot.port, en_user=en.user, ville_user=ville.user, limit=limit,
                                  ville_folder=ville_folder, ville_extra=ville_extra,
                                  authserv_id=authserv_id, extra=extra, ville_mode=mode,
                                  en_mode=en_mode or mode),
                    encoding="utf-8")
    cfg = load_config(path)
    rt = Runtime(cfg=cfg, rules=load_rules(), sessions=open_database(cfg.bot.data_dir, cfg.bot.database_url),
                 transport=SmtpTransport(smtp_sink.host, smtp_sink.port, "none", timeout=5))
    return Bot(rt, dovecot, smtp_sink, en, ville)
