"""Access tokens for SASL XOAUTH2 (mailboxes.md, "Authentication").

One `TokenSource` per [[oauth2]] block, shared by every mailbox and [smtp] that names it,
keeps its tokens in memory (never on disk, never in a log) and gets a new one shortly
before the old one expires, or at once when a server refused it (`invalidate`). Providers:

- `microsoft`: the client-credentials flow of the Microsoft identity platform through msal,
  with a client secret or a certificate; one application token opens every mailbox the
  application is allowed (IMAP.AccessAsApp, SMTP.SendAsApp), the mailbox is the user name.
- `google`: a service account with domain-wide delegation through google-auth; one token
  per mailbox (the account acts as that user).
- `command`: a command that prints a token (plain, or the JSON of a token endpoint:
  `access_token`, `expires_in`), the mailbox's user name in $CITEBOT_OAUTH2_USER.

Every failure is a `TokenError` whose text is one French line for the operator, naming the
block and, when the provider gave one, its error code — never the secret.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import OAuth2Config

log = logging.getLogger(__name__)

SCOPES = {"microsoft": "https://outlook.office365.com/.default", "google": "https://mail.google.com/"}
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
MICROSOFT_TOKEN_PATH = "/oauth2/v2.0/token"
# A token is renewed this long before it expires (a quarter of its life when that is shorter):
# a login or an IDLE renewal never starts with a token about to run out.
RENEW_MARGIN_SECONDS = 300
# What a command's plain token is taken to last when it says nothing: it is asked again then
# (or sooner, when a server refuses it).
COMMAND_TOKEN_SECONDS = 600
COMMAND_TIMEOUT_SECONDS = 30


class TokenError(Exception):
    """No token could be had: the text is one French line (no secret in it)."""


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (Google's and Microsoft's documentation)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


class XOAuth2Responder:
    """The SASL callback of imaplib's AUTHENTICATE and smtplib's auth(): the initial response,
    then an empty answer to the server's error challenge (RFC 7628: the client answers it, and
    the server then says NO / 535)."""

    def __init__(self, response: str):
        self.response: str | None = response

    def __call__(self, challenge: bytes | None = None) -> str:
        response, self.response = self.response, None
        return response or ""


# What Microsoft 365 and others answer a password login once basic authentication is off
# (« 550 5.7.30 Basic authentication is not supported for Client Submission »).
_BASIC_AUTH_OFF = re.compile(r"5\.7\.30|basic auth(entication)? (is )?(not supported|disabled)", re.I)


def password_refused_advice(where: str, server_text: str) -> str | None:
    """The French line for a server that no longer takes passwords, or None."""
    if _BASIC_AUTH_OFF.search(server_text):
        return (f"{where} : ce serveur n'accepte plus le mot de passe : configurez oauth2 "
                "(un bloc [[oauth2]] et « oauth2 = … » à la place du mot de passe).")
    return None


@dataclass
class _Cached:
    token: str
    renew_at: float  # time.monotonic(): durations, not dates (immune to clock changes)


class TokenSource:
    """The tokens of one [[oauth2]] block, by user (a Microsoft application token serves every user)."""

    def __init__(self, cfg: OAuth2Config):
        self.cfg = cfg
        self._lock = threading.Lock()  # the IDLE watchers and the poll ask at the same time
        self._cache: dict[str, _Cached] = {}

    def token(self, user: str) -> str:
        key = self._key(user)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and time.monotonic() < cached.renew_at:
                return cached.token
            token, lifetime = _fetch(self.cfg, user)
            margin = min(RENEW_MARGIN_SECONDS, lifetime / 4)
            self._cache[key] = _Cached(token, time.monotonic() + max(lifetime - margin, 0))
            log.debug("oauth2 %s: new token, valid %d s", self.cfg.name, lifetime)
            return token

    def invalidate(self, user: str, token: str) -> None:
        """A server refused `token` (expired, revoked): the next `token()` gets a new one."""
        key = self._key(user)
        with self._lock:
            if (cached := self._cache.get(key)) is not None and cached.token == token:
                del self._cache[key]

    def _key(self, user: str) -> str:
        return "" if self.cfg.provider == "microsoft" else user


_sources: dict[OAuth2Config, TokenSource] = {}
_sources_lock = threading.Lock()


def token_source(cfg: OAuth2Config) -> TokenSource:
    """The process's one TokenSource for this block (the IMAP and SMTP sides share its tokens)."""
    with _sources_lock:
        source = _sources.get(cfg)
        if source is None:
            source = _sources[cfg] = TokenSource(cfg)
        return source


# --------------------------------------------------------------------------- providers


def _fetch(cfg: OAuth2Config, user: str) -> tuple[str, float]:
    """A new token and how long it lasts (seconds)."""
    if cfg.provider == "microsoft":
        return _microsoft(cfg)
    if cfg.provider == "google":
        return _google(cfg, user)
    return _command(cfg, user)


def _unreachable(cfg: OAuth2Config, reason: str) -> TokenError:
    return TokenError(f"oauth2 « {cfg.name} » : le point d'accès des jetons est injoignable ({reason}) ; "
                      "réessai au prochain passage.")


def _refused(cfg: OAuth2Config, code: str, what: str) -> TokenError:
    return TokenError(f"oauth2 « {cfg.name} » : le fournisseur refuse les identifiants ({code}) ; "
                      f"vérifiez {what}.")


def _microsoft(cfg: OAuth2Config) -> tuple[str, float]:
    import msal
    import requests

    authority = (cfg.token_url.removesuffix(MICROSOFT_TOKEN_PATH) if cfg.token_url
                 else f"{MICROSOFT_AUTHORITY}/{cfg.tenant}")
    if cfg.certificate is not None:
        credential = _certificate_credential(cfg)
    else:
        credential = cfg.client_secret
    try:
        # A new application each time: its own cache would hand back the very token a
        # server has just refused. Tokens last an hour: this is once an hour.
        app = msal.ConfidentialClientApplication(
            cfg.client_id, client_credential=credential, authority=authority,
            instance_discovery=not cfg.token_url, http_client=_http_session(cfg, timeout=cfg.timeout),
            token_cache=msal.TokenCache())
        result = app.acquire_token_for_client(scopes=[cfg.scope or SCOPES["microsoft"]])
    except requests.RequestException as exc:
        raise _unreachable(cfg, type(exc).__name__) from None
    except ValueError as exc:  # the tenant's discovery failed: unknown tenant, wrong token_url
        text = str(exc)
        code = "tenant inconnu" if "OIDC Discovery failed" in text or "tenant" in text else "découverte"
        raise TokenError(f"oauth2 « {cfg.name} » : l'annuaire {authority} ne répond pas comme celui d'un "
                         f"tenant Microsoft ({code}) ; vérifiez tenant (ou token_url).") from None
    if "access_token" in result:
        return result["access_token"], float(result.get("expires_in", 3600))
    codes = ", ".join(f"AADSTS{c}" for c in result.get("error_codes", ()))
    code = result.get("error", "erreur") + (f", {codes}" if codes else "")
    raise _refused(cfg, code, "client_id, le secret ou le certificat, et tenant")


def _http_session(cfg: OAuth2Config, **defaults):
    """A requests session trusting `ca_file` when given. Set on each request: a session's own
    `verify` loses to $REQUESTS_CA_BUNDLE, which many systems set. The proxies of the
    environment (HTTPS_PROXY) still apply."""
    import functools

    import requests

    session = requests.Session()
    if cfg.ca_file:
        defaults["verify"] = str(cfg.ca_file)
    if defaults:
        session.request = functools.partial(session.request, **defaults)
    return session


def _certificate_credential(cfg: OAuth2Config) -> dict:
    """msal's certificate credential from a PEM holding the private key and the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = cfg.certificate.encode()
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise TokenError(f"oauth2 « {cfg.name} » : certificate_file ne contient pas de certificat PEM "
                         "(la clé privée et le certificat sont attendus dans le même fichier).") from None
    return {"private_key": cfg.certificate, "thumbprint": certificate.fingerprint(hashes.SHA1()).hex(),
            "public_certificate": certificate.public_bytes(Encoding.PEM).decode()}


def _google(cfg: OAuth2Config, user: str) -> tuple[str, float]:
    import google.auth.exceptions
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    info = json.loads(cfg.key)
    if cfg.token_url:
        info["token_uri"] = cfg.token_url
    session = _http_session(cfg)
    try:
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=[cfg.scope or SCOPES["google"]], subject=user)
        credentials.refresh(Request(session))
    except google.auth.exceptions.TransportError as exc:
        raise _unreachable(cfg, type(exc).__name__) from None
    except google.auth.exceptions.RefreshError as exc:
        details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        code = details.get("error") or str(exc.args[0]).split(":")[0] or "erreur"
        raise _refused(cfg, code, "la clé du compte de service et sa délégation au domaine "
                                  "(https://mail.google.com/)") from None
    except ValueError:  # a key that is not an RSA private key
        raise TokenError(f"oauth2 « {cfg.name} » : key_file ne contient pas une clé de compte de service "
                         "utilisable.") from None
    finally:
        session.close()
    lifetime = 3600.0
    if credentials.expiry is not None:  # naive UTC
        lifetime = (credentials.expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    return credentials.token, max(lifetime, 0)


def _command(cfg: OAuth2Config, user: str) -> tuple[str, float]:
    """The command's token for `user` (given to it as $CITEBOT_OAUTH2_USER)."""
    try:
        done = subprocess.run(shlex.split(cfg.command), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=COMMAND_TIMEOUT_SECONDS, env={**os.environ, "CITEBOT_OAUTH2_USER": user})
    except (OSError, ValueError) as exc:
        raise TokenError(f"oauth2 « {cfg.name} » : la commande ne peut pas être lancée "
                         f"({type(exc).__name__}).") from None
    except subprocess.TimeoutExpired:
        raise TokenError(f"oauth2 « {cfg.name} » : la commande n'a pas répondu en "
                         f"{COMMAND_TIMEOUT_SECONDS} s.") from None
    # Neither its output (the token) nor its standard error (who knows) is logged.
    log.debug("oauth2 %s: command exited %d", cfg.name, done.returncode)
    text = done.stdout.strip()
    if done.returncode != 0 or not text:
        raise TokenError(f"oauth2 « {cfg.name} » : la commande a échoué (code de sortie {done.returncode})"
                         f"{'' if text else ', sans jeton'}.")
    if text.startswith("{"):
        try:
            data = json.loads(text)
            return str(data["access_token"]), float(data.get("expires_in", COMMAND_TOKEN_SECONDS))
        except (ValueError, KeyError, TypeError):
            raise TokenError(f"oauth2 « {cfg.name} » : la commande a écrit un JSON sans « access_token ».") from None
    return text.splitlines()[0], COMMAND_TOKEN_SECONDS
