"""A small OAuth2 token and introspection server for the tests (no internet).

It plays the parts the bot and the test mail servers talk to:

- the Microsoft identity platform, as msal sees it: `GET /{tenant}/v2.0/.well-known/openid-configuration`
  and the client-credentials grant at `POST /{tenant}/oauth2/v2.0/token` (client_id and
  client_secret); a wrong secret answers 401 `invalid_client` with `AADSTS7000215`, as Entra does;
- Google's token endpoint, `POST /google/token`: the JWT-bearer grant of a service account,
  whose signature is checked against the public key registered with `add_service_account`;
- RFC 7662 introspection, `POST /introspect` (`token=…`), for Dovecot's oauth2 passdb and the
  SMTP sink: `{"active": true, "username": DOMAIN}` while the token lives.

Tokens are as long as Microsoft's (~1.6 KB) and last `lifetime` seconds; `expire_all()` ends
them on the server side while the bot still holds them (a token revoked or expired early).
The token endpoints are served over HTTPS (msal refuses http://) with a throw-away
certificate (`ca_file`), introspection over plain HTTP (Dovecot's side, on loopback).

    with OAuthServer() as auth:
        auth.add_client("app-id", "secret", domain="lievin.test")
        auth.microsoft_token_url("lievin.test")  # for the bot's token_url
        auth.introspection_url                   # for Dovecot's introspection_url
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from servers import make_certificate

TOKEN_BYTES = 1200  # base64url: ~1,600 characters, the size of a real Entra token


@dataclass
class _Token:
    domain: str
    expires: float  # time.monotonic()


class OAuthServer:
    host = "127.0.0.1"

    def __init__(self, lifetime: float = 3600) -> None:
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[str, str]] = {}  # client_id -> (secret, domain)
        self._accounts: dict[str, tuple[bytes, str]] = {}  # client_email -> (public key PEM, domain)
        self._certificates: dict[str, tuple[bytes, str]] = {}  # client_id -> (certificate PEM, domain)
        self._tokens: dict[str, _Token] = {}
        self.issued = 0  # tokens handed out
        self.refused = 0  # token requests refused
        self.introspections = 0
        self.last_refusal = ""  # why the last JWT was refused (to debug a test)
        self._folder = Path(tempfile.mkdtemp(prefix="citebot-oauth-"))
        self.ca_file, self._key = make_certificate(self._folder / "tls")
        self._https = self._http = None

    # -- life cycle ---------------------------------------------------------------

    def __enter__(self) -> OAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> OAuthServer:
        handler = _handler_for(self)
        self._https = ThreadingHTTPServer((self.host, 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, self._key)
        self._https.socket = context.wrap_socket(self._https.socket, server_side=True)
        self._http = ThreadingHTTPServer((self.host, 0), handler)
        for server in (self._https, self._http):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._https, self._http):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._https = self._http = None
        shutil.rmtree(self._folder, ignore_errors=True)

    @property
    def https_base(self) -> str:
        return f"https://{self.host}:{self._https.server_address[1]}"

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self._http.server_address[1]}"

    @property
    def introspection_url(self) -> str:
        return f"{self.http_base}/introspect"

    def microsoft_token_url(self, tenant: str) -> str:
        return f"{self.https_base}/{tenant}/oauth2/v2.0/token"

    @property
    def google_token_url(self) -> str:
        return f"{self.https_base}/google/token"

    # -- what the tests set up ----------------------------------------------------

    def add_client(self, client_id: str, secret: str, domain: str) -> None:
        """An application registration whose tokens open every mailbox of `domain`."""
        with self._lock:
            self._clients[client_id] = (secret, domain)

    def add_client_certificate(self, client_id: str, certificate_pem: bytes, domain: str) -> None:
        """An application registration whose credential is a certificate (msal's signed client assertion)."""
        with self._lock:
            self._certificates[client_id] = (certificate_pem, domain)

    def add_service_account(self, client_email: str, public_key_pem: bytes, domain: str) -> None:
        with self._lock:
            self._accounts[client_email] = (public_key_pem, domain)

    def issue(self, domain: str, lifetime: float | None = None) -> str:
        """A token for `domain`, as the endpoints hand out (the `command` provider's tests)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._lock:
            self._tokens[token] = _Token(domain, time.monotonic() + (self.lifetime if lifetime is None else lifetime))
            self.issued += 1
        return token

    def expire_all(self) -> None:
        """Every token handed out so far is dead from now on (the bot does not know)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires = 0

    def tokens(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    def active(self, token: str) -> str | None:
        """The domain of a live token, else None."""
        with self._lock:
            self.introspections += 1
            found = self._tokens.get(token)
            return found.domain if found is not None and time.monotonic() < found.expires else None

    # -- the endpoints ------------------------------------------------------------

    def _microsoft_discovery(self, tenant: str) -> tuple[int, dict]:
        base = f"{self.https_base}/{tenant}"
        return 200, {"issuer": f"{base}/v2.0", "token_endpoint": f"{base}/oauth2/v2.0/token",
                     "authorization_endpoint": f"{base}/oauth2/v2.0/authorize"}

    def _microsoft_token(self, form: dict[str, str], path: str) -> tuple[int, dict]:
        with self._lock:
            known = self._clients.get(form.get("client_id", ""))
            certificate = self._certificates.get(form.get("client_id", ""))
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if certificate is not None:
            return self._microsoft_assertion(form, path, *certificate)
        if known is None:
            return self._refuse(400, "unauthorized_client", 700016,
                                "AADSTS700016: Application not found in the directory.")
        if form.get("client_secret") != known[0]:
            return self._refuse(401, "invalid_client", 7000215,
                                "AADSTS7000215: Invalid client secret provided.")
        return 200, {"token_type": "Bearer", "expires_in": int(self.lifetime), "ext_expires_in": int(self.lifetime),
                     "access_token": self.issue(known[1])}

    def _microsoft_assertion(self, form: dict[str, str], path: str, certificate_pem: bytes,
                             domain: str) -> tuple[int, dict]:
        """The client assertion: a JWT signed with the certificate's key, for this token endpoint."""
        import jwt
        from cryptography import x509

        public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
        try:
            jwt.decode(form.get("client_assertion", ""), public_key, algorithms=["RS256", "PS256"],
                       audience=f"{self.https_base}{path}", issuer=form.get("client_id"))
        except jwt.InvalidTokenError as exc:
            self.last_refusal = repr(exc)
            return self._refuse(401, "invalid_client", 700027,
                                "AADSTS700027: The certificate with identifier used to sign the client assertion "
                                "is not registered on application.")
        return 200, {"token_type": "Bearer", "expires_in": int(self.lifetime), "access_token": self.issue(domain)}

    def _google_token(self, form: dict[str, str]) -> tuple[int, dict]:
        import jwt

        assertion = form.get("assertion", "")
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
            with self._lock:
                known = self._accounts.get(issuer)
            if known is None:
                raise jwt.InvalidTokenError("unknown service account")
            # google-auth signs for Google's own endpoint whatever token_uri says.
            claims = jwt.decode(assertion, known[0], algorithms=["RS256"],
                                audience=[self.google_token_url, "https://oauth2.googleapis.com/token"])
        except jwt.InvalidTokenError as exc:
            self.last_refusal = repr(exc)
            return self._refuse(400, "invalid_grant", None, "Invalid JWT Signature.")
        if not str(claims.get("sub", "")).endswith("@" + known[1]):
            return self._refuse(401, "unauthorized_client", None,
                                "Client is unauthorized to retrieve access tokens using this method.")
        return 200, {"access_token": self.issue(known[1]), "expires_in": int(self.lifetime), "token_type": "Bearer"}

    def _refuse(self, status: int, error: str, code: int | None, text: str) -> tuple[int, dict]:
        with self._lock:
            self.refused += 1
        body = {"error": error, "error_description": text}
        if code is not None:
            body["error_codes"] = [code]
        return status, body

    def _introspect(self, token: str) -> tuple[int, dict]:
        domain = self.active(token)
        # Dovecot formats both names with username_format (%d): the domain of an address.
        return 200, {"active": True, "username": f"application@{domain}"} if domain else {"active": False}


def _handler_for(server: OAuthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            text = self.rfile.read(length).decode() if length else ""
            return {k: v[0] for k, v in parse_qs(text).items()}

        def do_GET(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                return self._answer(*server._microsoft_discovery(parts[0]))
            if parts[0] == "introspect":  # introspection_mode = auth / get
                return self._answer(*server._introspect(self._bearer() or self.path.partition("?")[2]))
            self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            form = self._form()
            if path.endswith("/oauth2/v2.0/token"):
                return self._answer(*server._microsoft_token(form, path))
            if path == "/google/token":
                return self._answer(*server._google_token(form))
            if path == "/introspect":
                return self._answer(*server._introspect(form.get("token") or self._bearer()))
            self._answer(404, {"error": "not_found"})

        def _bearer(self) -> str:
            value = self.headers.get("Authorization", "")
            return value[7:] if value.lower().startswith("bearer ") else ""

    return Handler
