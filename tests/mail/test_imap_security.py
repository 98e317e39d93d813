"""IMAP over implicit TLS (993-style) and STARTTLS against a real Dovecot (``dovecot_tls``:
``ssl = required``, a certificate made at start and trusted through ``ca_file``): mail is
read and marked; an untrusted certificate, a wrong password, a wrong port or a silent
server is a MailboxUnavailable, quickly, never a crash or a hang."""

from __future__ import annotations

import re
import socket
import ssl
import time
from pathlib import Path

import pytest
from bot_harness import Bot
from mail_factory import fiche_bytes, mail
from servers import make_certificate

from bot.config import MailboxConfig, load_config
from bot.mail.sources import ImapSource, MailboxUnavailable
from bot.mail.transports import SmtpTransport
from bot.poller import Runtime
from bot.rules import load_rules
from bot.store.db import open_database

RAW = (
    b"From: Camille Martin <camille.martin@example.org>\r\n"
    b"To: l.marcq@lievin.fr\r\n"
    b"Subject: Fiche projet\r\n"
    b"Message-ID: <tls-{n}@example.org>\r\n"
    b"\r\n"
    b"Bonjour, voici la fiche.\r\n"
)
SECURITIES = ["tls", "starttls"]
SYSTEM_CAS = None  # ca_file=None: the system's certificates, which never signed the test one
QUICK = 2.0  # seconds: what a refusal may take (no retry, no waiting on a timeout)


@pytest.fixture
def account(dovecot_tls):
    return dovecot_tls.new_account()


def config(server, account, security: str, *, password: str | None = None, host: str | None = None,
           port: int | None = None, ca_file: Path | None | str = "server", timeout: float = 5) -> MailboxConfig:
    if port is None:
        port = server.tls_port if security == "tls" else server.port
    return MailboxConfig(
        name="ville", address="l.marcq@lievin.fr", kind="imap", host=host or server.host, port=port,
        security=security,
        username=account.user, password=account.password if password is None else password,
        coordinators=("l.marcq@lievin.fr",), timeout=timeout,
        ca_file=server.ca_file if ca_file == "server" else ca_file,
    )


def refused(cfg: MailboxConfig) -> tuple[str, float]:
    """Open the source once (no retry); the MailboxUnavailable's text and how long it took."""
    start = time.monotonic()
    with pytest.raises(MailboxUnavailable) as error:
        ImapSource(cfg, attempts=1).close()
    return str(error.value), time.monotonic() - start


# -- a verified encrypted connection ---------------------------------------------
@pytest.mark.parametrize("security", SECURITIES)
def test_mail_is_read_and_marked_over_a_verified_encrypted_connection(dovecot_tls, account, security):
    unread = dovecot_tls.append(account.user, RAW.replace(b"{n}", b"1"))
    read = dovecot_tls.append(account.user, RAW.replace(b"{n}", b"2"), flags=["\\Seen"])

    source = ImapSource(config(dovecot_tls, account, security), attempts=1)
    try:
        sock = source.client.socket()
        assert isinstance(sock, ssl.SSLSocket) and sock.version() in ("TLSv1.2", "TLSv1.3")
        assert sock.getpeercert()["subjectAltName"]  # verified: the peer's certificate was checked
        assert source.uidvalidity == dovecot_tls.uidvalidity(account.user)
        fetched = list(source.fetch_after(0))
        assert [(f.uid, f.raw) for f in fetched] == [
            (str(unread), RAW.replace(b"{n}", b"1")),
            (str(read), RAW.replace(b"{n}", b"2")),
        ]
        for f in fetched:
            source.mark(f.uid)
        assert list(source.fetch_after(0)) == []  # marked messages are not offered again
    finally:
        source.close()

    flags = {m["uid"]: m["flags"] for m in dovecot_tls.messages(account.user)}
    assert flags == {unread: {"$CitebotDone"}, read: {"\\Seen", "$CitebotDone"}}  # \Seen as it was


def test_the_plain_port_refuses_a_login_without_starttls(dovecot_tls, account):
    # Without this, the STARTTLS test above would also pass against a client skipping STARTTLS.
    assert dovecot_tls.plain_login_refused, "Dovecot could not listen on 127.0.0.2: it lets 127.0.0.1 log in plain"
    message, took = refused(config(dovecot_tls, account, "none", ca_file=None))
    assert "PRIVACYREQUIRED" in message and took < QUICK


# -- refusals: MailboxUnavailable, quickly ---------------------------------------
@pytest.mark.parametrize("security", SECURITIES)
@pytest.mark.parametrize("trust", ["system CAs", "another CA"])
def test_an_untrusted_certificate_is_unavailable(dovecot_tls, account, security, trust, tmp_path):
    ca_file = SYSTEM_CAS if trust == "system CAs" else make_certificate(tmp_path, hosts=[dovecot_tls.host])[0]
    message, took = refused(config(dovecot_tls, account, security, ca_file=ca_file))
    assert "CERTIFICATE_VERIFY_FAILED" in message and took < QUICK
    assert account.password not in message


@pytest.mark.parametrize("security", SECURITIES)
def test_a_wrong_password_is_unavailable(dovecot_tls, account, security):
    message, took = refused(config(dovecot_tls, account, security, password="mauvais-mot-de-passe"))
    assert "AUTHENTICATIONFAILED" in message and took < QUICK  # refused by the server, after TLS
    assert "mauvais-mot-de-passe" not in message


# -- wrong port, silent server: the timeout ends the wait --------------------------
def test_tls_on_the_starttls_port_is_unavailable(dovecot_tls, account):
    # The server greets in clear text where the client expects a TLS handshake.
    message, took = refused(config(dovecot_tls, account, "tls", port=dovecot_tls.port, timeout=1))
    assert "SSL" in message and took < QUICK


def test_starttls_on_the_tls_port_times_out(dovecot_tls, account):
    # Each side waits for the other (the greeting / the TLS ClientHello): only the timeout ends it.
    message, took = refused(config(dovecot_tls, account, "starttls", port=dovecot_tls.tls_port, timeout=0.3))
    assert re.search(r"timed out|TimeoutError", message) and took < QUICK


def test_a_server_silent_during_the_tls_handshake_times_out(dovecot_tls, account):
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        host, port = silent.getsockname()
        message, took = refused(config(dovecot_tls, account, "tls", host=host, port=port, timeout=0.3))
    assert re.search(r"timed out|TimeoutError", message) and took < QUICK


# -- a whole round: poll_once over TLS and STARTTLS --------------------------------
CONFIG = """
[bot]
name = "Cité éducative de Liévin"
address = "cite-educative@lievin.fr"
data_dir = "var"

[smtp]
transport = "smtp"
host = "{smtp_host}"
port = {smtp_port}
security = "none"

[[mailbox]]
name = "education_nationale"
address = "chloe.dulieux@ac-lille.fr"
kind = "imap"
host = "{imap_host}"
port = {starttls_port}
security = "starttls"
ca_file = "{ca_file}"
timeout = 5
username = "{en_user}"
password_env = "TEST_EN_PASSWORD"
coordinators = ["chloe.dulieux@ac-lille.fr"]
porteur_types = ["education_nationale"]

[[mailbox]]
name = "ville"
address = "l.marcq@lievin.fr"
kind = "imap"
host = "{imap_host}"
port = {tls_port}
security = "tls"
ca_file = "{ca_file}"
timeout = 5
username = "{ville_user}"
password_env = "TEST_VILLE_PASSWORD"
coordinators = ["f.talaga@lievin.fr", "l.marcq@lievin.fr"]
porteur_types = ["service_ville", "association", "structure_partenaire", "secteur_prive"]

[avis]
ien = ["ien.lievin@ac-lille.fr"]
reply_mailbox = "education_nationale"
"""


def test_poll_once_reads_over_tls_and_starttls_and_the_acknowledgement_goes_out(tmp_path, dovecot_tls,
                                                                                  smtp_sink):
    en, ville = dovecot_tls.new_account("en"), dovecot_tls.new_account("ville")
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, imap_host=dovecot_tls.host,
                                  starttls_port=dovecot_tls.port, tls_port=dovecot_tls.tls_port,
                                  ca_file=dovecot_tls.ca_file, en_user=en.user, ville_user=ville.user),
                    encoding="utf-8")
    cfg = load_config(path, env={"TEST_EN_PASSWORD": en.password, "TEST_VILLE_PASSWORD": ville.password})
    assert [(m.security, m.ca_file) for m in cfg.mailboxes] == [("starttls", dovecot_tls.ca_file),
                                                                ("tls", dovecot_tls.ca_file)]
    rt = Runtime(cfg=cfg, rules=load_rules(), sessions=open_database(cfg.bot.data_dir, cfg.bot.database_url),
                 transport=SmtpTransport(smtp_sink.host, smtp_sink.port, "none", timeout=5))
    bot = Bot(rt, dovecot_tls, smtp_sink, en, ville)
    uid = bot.deliver(mail(attachments=[("Fiche projet.docx", fiche_bytes())]))

    report = bot.poll()

    assert report.ok and report.handled == 1 and report.unreachable == []
    [ack] = bot.sent()
    assert smtp_sink.received[0].rcpt_tos == ["camille.martin@example.org"]
    assert re.search(r"\[CE-\d{4}-0001\]", ack["Subject"])
    [state] = bot.mailbox("ville")
    assert state["uid"] == uid and "$CitebotDone" in state["flags"] and "\\Seen" not in state["flags"]
    logins = [line for line in dovecot_tls.log().splitlines() if "Login: user=<" in line]
    for user in (en.user, ville.user):  # both mailboxes were opened, each over TLS
        mine = [line for line in logins if f"user=<{user}>" in line]
        assert mine and all(", TLS," in line for line in mine)
