"""OAuth2 (SASL XOAUTH2) for IMAP and SMTP (mailboxes.md, "Authentication"), against the real
Dovecot (its oauth2 passdb, checking tokens by introspection), an aiosmtpd sink that requires
AUTH XOAUTH2, and the local token server of tests/oauth_server.py: no internet."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO
from mail_factory import fiche_bytes, mail
from servers import SmtpSink, free_port

from bot.config import ConfigError, load_config
from bot.mail.oauth2 import xoauth2
from bot.poller import Runtime, poll_once
from bot.rules import load_rules
from bot.store.db import open_database
from bot.store.models import Outbox

DOMAIN = "lievin.test"

CONFIG = """
[bot]
name = "Cité éducative de Liévin"
address = "cite-educative@{domain}"
data_dir = "var"

[smtp]
transport = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
{smtp_auth}

[[mailbox]]
name = "education_nationale"
address = "chloe.dulieux@ac-lille.fr"
mode = "dedie"
kind = "imap"
host = "{imap_host}"
port = {imap_port}
security = "none"
username = "{en_user}"
{en_auth}
coordinators = ["chloe.dulieux@ac-lille.fr"]
porteur_types = ["education_nationale"]

[[mailbox]]
name = "ville"
address = "l.marcq@lievin.fr"
mode = "dedie"
kind = "imap"
host = "{imap_host}"
port = {imap_port}
security = "none"
username = "{ville_user}"
oauth2 = "ville-m365"
coordinators = ["f.talaga@lievin.fr", "l.marcq@lievin.fr"]
porteur_types = ["service_ville", "association", "structure_partenaire", "secteur_prive"]

[[oauth2]]
name = "ville-m365"
{oauth2_block}

[avis]
ien = ["ien.lievin@ac-lille.fr"]
reply_mailbox = "education_nationale"
"""


class Setup:
    """Two mailboxes of the domain on the OAuth Dovecot, the application registered on the token server."""

    def __init__(self, tmp_path: Path, dovecot, auth, monkeypatch, smtp, *, provider: str = "microsoft",
                 secret: str | None = None, en_oauth2: bool = True, smtp_auth: str | None = None):
        tag = uuid.uuid4().hex[:8]
        self.dovecot, self.auth, self.smtp = dovecot, auth, smtp
        self.en = dovecot.add_user(f"en-{tag}@{DOMAIN}", uuid.uuid4().hex)
        self.ville = dovecot.add_user(f"ville-{tag}@{DOMAIN}", uuid.uuid4().hex)
        self.client_id, self.secret = str(uuid.uuid4()), f"secret-{uuid.uuid4().hex}"
        auth.add_client(self.client_id, self.secret, DOMAIN)
        monkeypatch.setenv("TEST_OAUTH_SECRET", secret or self.secret)
        monkeypatch.setenv("TEST_EN_PASSWORD", self.en.password)
        self.sender = f"robot-{tag}@{DOMAIN}"
        if smtp_auth is None:
            smtp_auth = f'username = "{self.sender}"\noauth2 = "ville-m365"'
        self.path = tmp_path / "config.toml"
        self.path.write_text(CONFIG.format(
            domain=DOMAIN, smtp_port=smtp.port, smtp_auth=smtp_auth, imap_host=dovecot.host, imap_port=dovecot.port,
            en_user=self.en.user, ville_user=self.ville.user,
            en_auth='oauth2 = "ville-m365"' if en_oauth2 else 'password_env = "TEST_EN_PASSWORD"',
            oauth2_block=self.block(provider, tmp_path)), encoding="utf-8")

    def block(self, provider: str, tmp_path: Path) -> str:
        if provider == "microsoft":
            return (f'provider = "microsoft"\ntenant = "{DOMAIN}"\nclient_id = "{self.client_id}"\n'
                    f'client_secret_env = "TEST_OAUTH_SECRET"\n'
                    f'token_url = "{self.auth.microsoft_token_url(DOMAIN)}"\nca_file = "{self.auth.ca_file}"')
        raise AssertionError(provider)

    def runtime(self) -> Runtime:
        cfg = load_config(self.path)
        return Runtime(cfg=cfg, rules=load_rules(), sessions=open_database(cfg.bot.data_dir, cfg.bot.database_url))

    def deliver(self, to: str = "ville", subject: str = "Projet Papillons de Liévin") -> None:
        account = self.ville if to == "ville" else self.en
        self.dovecot.append(account.user, mail(subject=subject, attachments=[("Fiche projet.docx", fiche_bytes())]))


def _acks(sink) -> list:
    return [r for r in sink.received if "camille.martin@example.org" in r.rcpt_tos]


def test_imap_and_smtp_log_in_with_xoauth2_through_the_token_server(tmp_path, dovecot_oauth, oauth_server,
                                                                      smtp_oauth, monkeypatch):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    setup.deliver()
    issued = oauth_server.issued
    rt = setup.runtime()

    report = poll_once(rt)

    assert report.ok and report.handled == 1, report
    assert len(_acks(smtp_oauth)) == 1
    assert smtp_oauth.logins == [setup.sender]  # AUTH XOAUTH2 as the sending mailbox
    # One application token for both mailboxes and SMTP, kept in memory.
    assert oauth_server.issued == issued + 1
    assert "$CitebotDone" in dovecot_oauth.messages(setup.ville.user)[0]["flags"]


def test_a_token_that_expires_mid_run_is_renewed_without_an_error(tmp_path, dovecot_oauth, oauth_server,
                                                                    smtp_oauth, monkeypatch, caplog):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    rt = setup.runtime()
    caplog.set_level(logging.INFO)
    setup.deliver()
    assert poll_once(rt).ok
    issued = oauth_server.issued

    # The server ends every token the bot holds (expired early, revoked): the next logins
    # are refused once, a new token is fetched, and the round goes on.
    oauth_server.expire_all()
    setup.deliver(subject="Projet Jardins partagés")
    report = poll_once(rt)

    assert report.ok and report.handled == 1, report
    assert len(_acks(smtp_oauth)) == 2
    assert oauth_server.issued == issued + 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot")], caplog.text
    assert "token refused, renewed" in caplog.text


def test_a_token_is_renewed_before_it_expires(tmp_path, dovecot_oauth, oauth_server, smtp_oauth, monkeypatch,
                                              caplog):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    rt = setup.runtime()
    monkeypatch.setattr(oauth_server, "lifetime", 2)  # renewed a quarter of its life before the end
    caplog.set_level(logging.INFO)
    assert poll_once(rt).ok
    issued = oauth_server.issued
    time.sleep(2.2)
    setup.deliver()

    report = poll_once(rt)

    assert report.ok and report.handled == 1
    assert oauth_server.issued == issued + 1
    assert "token refused" not in caplog.text  # renewed ahead, not after a refusal


def test_a_refused_client_secret_gives_the_french_line_and_exit_1_and_the_other_mailbox_is_polled(
        tmp_path, dovecot_oauth, oauth_server, smtp_sink, monkeypatch):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_sink, secret="not-the-secret",
                  en_oauth2=False, smtp_auth="")
    setup.deliver(to="en")

    done = subprocess.run([sys.executable, "-m", "bot", "--config", str(setup.path), "poll", "--once"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)

    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("1\u00a0message traité"), done.stdout  # the password mailbox still polled
    assert ("boîte « ville » : oauth2 « ville-m365 » : le fournisseur refuse les identifiants "
            "(invalid_client, AADSTS7000215) ; vérifiez client_id, le secret ou le certificat, et tenant."
            in done.stderr.splitlines()), done.stderr
    assert len(_acks(smtp_sink)) == 1


def test_secrets_and_tokens_never_reach_the_logs_even_with_v(tmp_path, dovecot_oauth, oauth_server, smtp_oauth,
                                                              monkeypatch):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    setup.deliver()
    before = set(oauth_server.tokens())

    done = subprocess.run([sys.executable, "-m", "bot", "-v", "--config", str(setup.path), "poll", "--once"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "AUTHENTICATE" in done.stderr  # -v did trace the IMAP session
    [token] = set(oauth_server.tokens()) - before
    sasl = base64.b64encode(xoauth2(setup.ville.user, token).encode()).decode()
    output = done.stdout + done.stderr
    for secret in (setup.secret, token, token[:40], sasl[:40]):
        assert secret not in output


def test_the_command_provider_logs_in_with_the_token_it_prints(tmp_path, dovecot_oauth, oauth_server, smtp_oauth,
                                                              monkeypatch):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    token_file = tmp_path / "token.json"
    token_file.write_text(json.dumps({"access_token": oauth_server.issue(DOMAIN), "expires_in": 600}))
    script = tmp_path / "get-token.py"
    asked = tmp_path / "asked"
    script.write_text(f"import os, sys; open({str(asked)!r}, 'a').write(os.environ['CITEBOT_OAUTH2_USER'] + '\\n'); "
                      f"sys.stdout.write(open({str(token_file)!r}).read())\n")
    text = setup.path.read_text(encoding="utf-8")
    start = text.index('provider = "microsoft"')
    end = text.index("[avis]")
    setup.path.write_text(text[:start] + f'provider = "command"\ncommand = "{sys.executable} {script}"\n\n'
                          + text[end:], encoding="utf-8")
    setup.deliver()

    report = poll_once(setup.runtime())

    assert report.ok and report.handled == 1, report
    assert len(_acks(smtp_oauth)) == 1
    assert sorted(asked.read_text().split()) == sorted([setup.en.user, setup.ville.user, setup.sender])


def test_the_google_provider_signs_for_each_mailbox_with_the_service_account(tmp_path, dovecot_oauth, oauth_server,
                                                                            smtp_oauth, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email = f"citebot-{uuid.uuid4().hex[:6]}@projet.iam.gserviceaccount.com"
    oauth_server.add_service_account(email, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), DOMAIN)
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "client_email": email, "client_id": "1234", "private_key_id": "k1",
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "token_uri": "https://oauth2.googleapis.com/token"}))
    key_file.chmod(0o600)
    text = setup.path.read_text(encoding="utf-8")
    start, end = text.index('provider = "microsoft"'), text.index("[avis]")
    setup.path.write_text(text[:start] + f'provider = "google"\nkey_file = "{key_file}"\n'
                          f'token_url = "{oauth_server.google_token_url}"\nca_file = "{oauth_server.ca_file}"\n\n'
                          + text[end:], encoding="utf-8")
    setup.deliver()
    issued = oauth_server.issued

    report = poll_once(setup.runtime())

    assert report.ok and report.handled == 1, (report, oauth_server.last_refusal)
    assert len(_acks(smtp_oauth)) == 1
    assert oauth_server.issued == issued + 3  # one token per user: two mailboxes and the sender


def test_the_microsoft_provider_with_a_certificate_instead_of_a_secret(tmp_path, dovecot_oauth, oauth_server,
                                                                        smtp_oauth, monkeypatch):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    client_id = str(uuid.uuid4())
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=citebot",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    oauth_server.add_client_certificate(client_id, cert.read_bytes(), DOMAIN)
    pem = tmp_path / "m365-cert.pem"
    pem.write_bytes(key.read_bytes() + cert.read_bytes())
    pem.chmod(0o600)
    text = setup.path.read_text(encoding="utf-8")
    setup.path.write_text(text.replace(f'client_id = "{setup.client_id}"', f'client_id = "{client_id}"')
                          .replace('client_secret_env = "TEST_OAUTH_SECRET"', f'certificate_file = "{pem}"'),
                          encoding="utf-8")
    setup.deliver()

    report = poll_once(setup.runtime())

    assert report.ok and report.handled == 1, (report, oauth_server.last_refusal)
    assert len(_acks(smtp_oauth)) == 1


def test_an_unreachable_token_endpoint_is_one_french_line(tmp_path, dovecot_oauth, oauth_server, smtp_oauth,
                                                          monkeypatch):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    text = setup.path.read_text(encoding="utf-8")
    setup.path.write_text(text.replace(oauth_server.https_base, f"https://127.0.0.1:{free_port()}"), encoding="utf-8")

    report = poll_once(setup.runtime())

    assert report.unreachable == ["education_nationale", "ville"]
    assert report.advice["ville"] == (
        "boîte « ville » : oauth2 « ville-m365 » : le point d'accès des jetons est injoignable (ConnectionError) ; "
        "réessai au prochain passage.")


def test_an_imap_server_refusing_the_token_is_one_french_line(tmp_path, dovecot_oauth, oauth_server, smtp_oauth,
                                                              monkeypatch):
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    # The application is registered for another domain: the token server hands out its tokens,
    # Dovecot refuses them for these mailboxes (an application without IMAP.AccessAsApp on them).
    oauth_server.add_client(setup.client_id, setup.secret, "autre-domaine.test")

    report = poll_once(setup.runtime())

    assert "ville" in report.unreachable
    assert report.advice["ville"].startswith(
        "boîte « ville » : le serveur IMAP refuse le jeton de « ville-m365 » ([AUTHENTICATIONFAILED] "
        "Authentication failed.) ; vérifiez que l'application a le droit IMAP.AccessAsApp")


def test_an_smtp_server_refusing_the_token_is_one_french_line_and_the_mail_waits(
        tmp_path, dovecot_oauth, oauth_server, smtp_oauth, monkeypatch, caplog):
    # A sending mailbox the application may not send as: the sink refuses its token.
    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth,
                  smtp_auth='username = "robot@autre-domaine.test"\noauth2 = "ville-m365"')
    setup.deliver()
    rt = setup.runtime()

    report = poll_once(rt)

    assert report.handled == 1 and report.sending.unreachable and not smtp_oauth.received
    assert ("outgoing mail server unreachable: serveur d'envoi : le serveur SMTP refuse le jeton de « ville-m365 » "
            "(535 5.7.8 Username and Password not accepted) ; vérifiez que l'application a le droit SMTP.SendAsApp"
            in caplog.text), caplog.text
    with rt.sessions() as session:
        assert {row.status for row in session.query(Outbox)} == {"pending"}


def test_a_server_that_no_longer_takes_passwords_says_configure_oauth2(tmp_path, dovecot_oauth, oauth_server,
                                                                         monkeypatch, caplog):
    with SmtpSink(password_reply="550 5.7.30 Basic authentication is not supported for Client Submission") as sink:
        monkeypatch.setenv("TEST_SMTP_PASSWORD", "mot-de-passe")
        setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, sink,
                      smtp_auth='username = "robot@lievin.test"\npassword_env = "TEST_SMTP_PASSWORD"')
        setup.deliver()
        rt = setup.runtime()

        report = poll_once(rt)

    assert report.handled == 1 and report.sending.unreachable
    assert ("serveur d'envoi : ce serveur n'accepte plus le mot de passe : configurez oauth2 "
            "(un bloc [[oauth2]] et « oauth2 = … » à la place du mot de passe).") in caplog.text
    with rt.sessions() as session:  # the acknowledgement waits for the new set-up, it is not lost
        assert {row.status for row in session.query(Outbox)} == {"pending"}


def test_the_idle_connection_logs_in_with_xoauth2_too(tmp_path, dovecot_oauth, oauth_server, smtp_oauth,
                                                     monkeypatch):
    import threading

    from bot.mail.idle import IdleWatcher

    setup = Setup(tmp_path, dovecot_oauth, oauth_server, monkeypatch, smtp_oauth)
    woken, stopping = [], threading.Event()
    watcher = IdleWatcher(load_config(setup.path).mailbox("ville"), woken.append, stopping, check_seconds=0.1)
    watcher.start()
    try:
        deadline = time.monotonic() + 15
        while watcher.offered is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        setup.deliver()
        while not woken:
            assert time.monotonic() < deadline, "no wake-up"
            time.sleep(0.05)
    finally:
        stopping.set()
        watcher.join(5)
    assert woken == ["ville"] and watcher.offered is True


# --------------------------------------------------------------------------- configuration


def _config(tmp_path: Path, mailbox_auth: str, blocks: str, env: dict | None = None):
    text = CONFIG.format(domain=DOMAIN, smtp_port=25, smtp_auth="", imap_host="127.0.0.1", imap_port=143,
                         en_user="en@lievin.test", ville_user="ville@lievin.test", en_auth=mailbox_auth,
                         oauth2_block="")
    text = text.replace('[[oauth2]]\nname = "ville-m365"\n', blocks)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env=env or {})


BLOCK = '[[oauth2]]\nname = "ville-m365"\nprovider = "microsoft"\ntenant = "t"\nclient_id = "c"\n'


def test_the_configuration_reads_the_block_and_its_secret_from_a_systemd_credential(tmp_path):
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "m365").write_text("s3cret\n")
    (tmp_path / "creds" / "m365").chmod(0o600)
    cfg = _config(tmp_path, 'oauth2 = "ville-m365"', BLOCK + 'client_secret_file = "%d/m365"\n',
                  env={"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    box = cfg.mailbox("education_nationale")
    assert box.oauth2.client_secret == "s3cret" and box.password is None and box.idle is True
    assert "s3cret" not in repr(cfg)


@pytest.mark.parametrize(("auth", "blocks", "message"), [
    ('oauth2 = "autre"', BLOCK + 'client_secret = "x"\n', "aucun bloc [[oauth2]] ne s'appelle « autre »"),
    ('oauth2 = "ville-m365"\npassword = "x"', BLOCK + 'client_secret = "x"\n',
     "un mot de passe et oauth2 sont indiqués"),
    ('oauth2 = "ville-m365"', BLOCK, "une et une seule des clés"),
    ('oauth2 = "ville-m365"', BLOCK + 'key_file = "k.json"\n', "cette clé ne sert pas au fournisseur « microsoft »"),
    ('idle = "non"\npassword = "x"', BLOCK + 'client_secret = "x"\n', "true ou false est attendu"),
])
def test_a_wrong_oauth2_configuration_is_one_french_line(tmp_path, auth, blocks, message):
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, auth, blocks)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
