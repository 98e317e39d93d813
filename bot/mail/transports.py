"""Outgoing transports: SMTP, or a Maildir of .eml files (demo, dry runs).

A transport opens a connection for a batch and sends raw messages. It reports a
failure as temporary (retry later: 4xx, connection lost) or permanent (5xx: the
mail will never go through).
"""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from bot.config import OAuth2Config
from bot.mail.oauth2 import TokenError, XOAuth2Responder, password_refused_advice, token_source, xoauth2
from bot.store.private import FILE_MODE, private_dir

log = logging.getLogger(__name__)


class TemporaryFailure(Exception):
    """Try again later (4xx, server unreachable, connection dropped)."""

    def __init__(self, message: str, connection_lost: bool = False):
        super().__init__(message)
        self.connection_lost = connection_lost  # the rest of the batch must wait too


class PermanentFailure(Exception):
    """The server refused this mail for good (5xx)."""


class Connection(Protocol):
    def send(self, raw: bytes, sender: str, recipients: list[str]) -> dict[str, tuple[int, str]] | None:
        """Raises TemporaryFailure or PermanentFailure when the mail went to nobody; else the
        recipients the server refused, {address: (code, text)} (empty or None: all accepted)."""


class Transport(Protocol):
    def connect(self) -> contextlib.AbstractContextManager[Connection]: ...


def _classify(code: int, text: str) -> Exception:
    return (PermanentFailure if 500 <= code < 600 else TemporaryFailure)(f"{code} {text}".strip())


def _text(exc: smtplib.SMTPResponseException) -> str:
    return exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)


def _replies(refused: dict) -> dict[str, tuple[int, str]]:
    return {address: (code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
            for address, (code, text) in refused.items()}


class _SmtpConnection:
    def __init__(self, client: smtplib.SMTP):
        self.client = client

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> dict[str, tuple[int, str]]:
        options = []
        if not all(a.isascii() for a in (sender, *recipients)):
            # An address with accents (josé@…) needs the server's SMTPUTF8 (RFC 6531).
            self.client.ehlo_or_helo_if_needed()
            if not self.client.has_extn("smtputf8"):
                raise PermanentFailure("adresse non ASCII et serveur sans SMTPUTF8 : " + ", ".join(recipients))
            options = ["SMTPUTF8"]
        try:
            refused = self.client.sendmail(sender, recipients, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if any(c >= 500 for c in codes) and any(c < 500 for c in codes):
                return _replies(exc.recipients)  # nobody took it: 5xx for good, 4xx again later
            text = "; ".join(f"{addr}: {code} {msg!r}" for addr, (code, msg) in exc.recipients.items())
            raise (PermanentFailure if all(c >= 500 for c in codes) else TemporaryFailure)(text) from None
        except smtplib.SMTPResponseException as exc:
            message = _text(exc)
            if advice := password_refused_advice("serveur d'envoi", message):
                # The server's policy, not this mail's fault: every mail waits for the new set-up.
                raise TemporaryFailure(advice, connection_lost=True) from None
            raise _classify(exc.smtp_code, message) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}", connection_lost=True) from None
        return _replies(refused)  # some recipients accepted, the others refused (if any)


class SmtpTransport:
    def __init__(self, host: str, port: int, security: str = "starttls", username: str | None = None,
                 password: str | None = None, timeout: float = 30, ca_file: Path | None = None,
                 oauth2: OAuth2Config | None = None):
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.ca_file = ca_file
        self.oauth2 = oauth2  # XOAUTH2 with that block's tokens, as `username`

    def _context(self) -> ssl.SSLContext:
        # Certificates are always verified; ca_file replaces the system CAs (a private CA).
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    @contextlib.contextmanager
    def connect(self) -> Iterator[_SmtpConnection]:
        try:
            if self.security == "tls":
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    client.starttls(context=self._context())
            if self.oauth2 is not None:
                self._xoauth2(client)
            elif self.username and self.password:
                client.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:
            advice = password_refused_advice("serveur d'envoi", f"{exc.smtp_code} {_text(exc)}")
            raise TemporaryFailure(advice or f"SMTP connection: {exc.smtp_code}", connection_lost=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"SMTP connection: {type(exc).__name__}: {exc}", connection_lost=True) from None
        try:
            yield _SmtpConnection(client)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()


    def _xoauth2(self, client: smtplib.SMTP) -> None:
        """AUTH XOAUTH2; a token refused is renewed once (it may have expired early)."""
        tokens = token_source(self.oauth2)
        client.ehlo_or_helo_if_needed()
        for attempt in (1, 2):
            try:
                token = tokens.token(self.username)
            except TokenError as exc:
                raise TemporaryFailure(f"serveur d'envoi : {exc}", connection_lost=True) from None
            try:
                client.auth("XOAUTH2", XOAuth2Responder(xoauth2(self.username, token)), initial_response_ok=True)
                return
            except smtplib.SMTPAuthenticationError as exc:
                tokens.invalidate(self.username, token)
                if attempt == 2:
                    raise TemporaryFailure(
                        f"serveur d'envoi : le serveur SMTP refuse le jeton de « {self.oauth2.name} » "
                        f"({exc.smtp_code} {_text(exc)[:200]}) ; vérifiez que l'application a le droit "
                        "SMTP.SendAsApp (ou la délégation Google) sur la boîte, et que [smtp] username est "
                        "bien son adresse.", connection_lost=True) from None
                log.info("SMTP: token refused, renewed")


class _MaildirConnection:
    def __init__(self, path: Path):
        self.path = path

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        # Maildir delivery: written in tmp/, then renamed into new/ — never half a file.
        # 0600, whatever the umask: the bot's mails quote the porteurs' fiches.
        name = f"{time.time_ns()}.{uuid.uuid4().hex[:12]}.eml"
        tmp = self.path / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, self.path / "new" / name)


class MaildirTransport:
    """Writes each outgoing mail as an .eml file in a Maildir (new/)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @contextlib.contextmanager
    def connect(self) -> Iterator[_MaildirConnection]:
        try:
            for sub in ("tmp", "new", "cur"):
                private_dir(self.path / sub)
        except OSError as exc:
            raise TemporaryFailure(f"outgoing Maildir {self.path}: {exc}", connection_lost=True) from None
        yield _MaildirConnection(self.path)


def transport_from_config(smtp) -> Transport:
    if smtp.transport == "maildir":
        return MaildirTransport(smtp.path)
    return SmtpTransport(smtp.host, smtp.port, smtp.security, smtp.username, smtp.password, smtp.timeout,
                         smtp.ca_file, smtp.oauth2)
