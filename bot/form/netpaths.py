r"""Would Word reach another machine for this path or URL?

One answer for the two ways a .docx can make Word fetch something by itself
when a coordinator opens it: an external relationship (a remote template, a
linked image) and a field code (INCLUDEPICTURE "http://…"). Reaching another
machine can leak the coordinator's Windows credentials (a UNC path makes Word
authenticate to the share) or tell the sender that the file was opened, so it
is refused; local paths (a porteur's own Normal.dotx) are inert and common.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]+):", re.I)  # two letters at least: "C:" is a drive
_DRIVE_HOST = re.compile(r"^[a-z][:|]$", re.I)  # file://C:/... written without the third slash
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]")
# Where a URL with an authority ("http://", "ftp://", "file://") or a UNC path
# ("\\host\share", "//host/share", once backslashes are slashes) starts inside a
# longer text. A "//" right after a letter, a digit or a colon is the inside of
# something else (a URL already found, "a//b").
_URL_START = re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]+://", re.I)
_UNC_START = re.compile(r"(?<![\w:/.-])//+[^/\s]")


def is_network_target(target: str) -> bool:
    r"""Is this whole string (a relationship's Target, a field's file argument) a
    place on another machine? Only local paths are inert: a drive path, a
    relative path, or a file: URL on this machine. Any other scheme (http:,
    mhtml:, ms-word:…) and any UNC path (\\host\share, file:////host/share,
    file:///\\host\share, percent-encoded or not) are not."""
    t = _INVISIBLE.sub("", unquote(target)).strip().replace("\\", "/")
    scheme = _SCHEME.match(t)
    if scheme:
        if scheme.group(1).lower() != "file":
            return True
        t = t[scheme.end():]
        if t.startswith("//"):
            host, _, path = t[2:].partition("/")
            if host.lower() not in ("", "localhost") and not _DRIVE_HOST.match(host):
                return True
            t = "/" + path
    return t.startswith("//")


def mentions_network_target(text: str) -> bool:
    r"""Does this text name, anywhere inside it, a URL with an authority or a UNC
    path that is_network_target finds remote? For texts that are not a single
    target: a field instruction with its keyword, switches and quotes, where a
    path may also sit inside a connection string ("Data Source=\\srv\db")."""
    for token in re.split(r'[\s"]+', unquote(text)):
        token = token.replace("\\", "/")
        starts = [m.start() for m in _URL_START.finditer(token)] + [m.start() for m in _UNC_START.finditer(token)]
        if any(is_network_target(token[start:]) for start in starts):
            return True
    return False
