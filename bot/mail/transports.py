"""Outgoing transports: SMTP, or a Maildir of .eml files (demo, dry runs).

A transport opens a connection for a batch and sends raw messages. It reports a
failure as temporary (retry later: 4xx, connection lost) or permanent (5xx: the
mail will never go through).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from bot.store.private import FILE_MODE, private_dir


class TemporaryFailure(Exception):
    """Try again later (4xx, server unreachable, connection dropped)."""

    def __init__(self, message: str, connection_lost: bool = False):
        super().__init__(message)
        self.connection_lost = connection_lost  # the rest of the batch must wait too


class PermanentFailure(Exception):
    """The server refused this mail for good (5xx)."""


class Connection(Protocol):
    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None: ...


class Transport(Protocol):
    def connect(self) -> contextlib.AbstractContextManager[Connection]: ...


def _classify(code: int, text: str) -> Exception:
    return (PermanentFailure if 500 <= code < 600 else TemporaryFailure)(f"{code} {text}".strip())


class _SmtpConnection:
    def __init__(self, client: smtplib.SMTP):
        self.client = client

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
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
            text = "; ".join(f"{addr}: {code} {msg!r}" for addr, (code, msg) in exc.recipients.items())
            raise (PermanentFailure if all(c >= 500 for c in codes) else TemporaryFailure)(text) from None
        except smtplib.SMTPResponseException as exc:
            message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise _classify(exc.smtp_code, message) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}", connection_lost=True) from None
        if refused:  # some recipients accepted: the mail is sent; note the others
            raise PermanentFailure("; ".join(f"{a}: {c}" for a, (c, _) in refused.items()))


class SmtpTransport:
    def __init__(self, host: str, port: int, security: str = "starttls", username: str | None = None,
                 password: str | None = None, timeout: float = 30, ca_file: Path | None = None):
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.ca_file = ca_file

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
            if self.username and self.password:
                client.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:
            raise TemporaryFailure(f"SMTP connection: {exc.smtp_code}", connection_lost=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"SMTP connection: {type(exc).__name__}: {exc}", connection_lost=True) from None
        try:
            yield _SmtpConnection(client)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()


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
                         smtp.ca_file)
