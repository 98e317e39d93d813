"""Zip files as the porteurs' tools write them, for the tests.

- `windows_zip`: Windows' « Envoyer vers › Dossier compressé »: names in the OEM code page
  (CP850 on a French Windows, CP437 on a US one) and no UTF-8 flag; or UTF-8 with the flag
  (7-Zip, recent Windows), or UTF-8 without it (macOS' Archive Utility).
- `encrypted_zip`: a password-protected zip (traditional PKWARE encryption, APPNOTE 6.1),
  which Python's zipfile reads with the password but cannot write.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


class _NamedInfo(zipfile.ZipInfo):
    """A ZipInfo whose name is written in the bytes and flags we choose."""

    def __init__(self, name: str, encoding: str, utf8_flag: bool):
        super().__init__(name, date_time=(2026, 11, 26, 10, 0, 0))
        self._encoding, self._utf8_flag = encoding, utf8_flag
        self.compress_type = zipfile.ZIP_DEFLATED

    def _encodeFilenameFlags(self):
        return self.filename.encode(self._encoding), self.flag_bits | (0x800 if self._utf8_flag else 0)


def windows_zip(entries: list[tuple[str, bytes]], *, encoding: str = "cp850", utf8_flag: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries:
            archive.writestr(_NamedInfo(name, encoding, utf8_flag), data)
    return out.getvalue()


def plain_zip(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


class _ZipCrypto:
    def __init__(self, password: bytes):
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    @staticmethod
    def _crc(value: int, byte: int) -> int:
        return zlib.crc32(bytes([byte]), value ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = self._crc(k0, byte)
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = self._crc(k2, k1 >> 24)
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def encrypted_zip(entries: list[tuple[str, bytes]], password: bytes = b"motdepasse") -> bytes:
    """Stored entries, each encrypted; names in ASCII."""
    out, central = bytearray(), bytearray()
    for name, data in entries:
        crc = zlib.crc32(data)
        cipher = _ZipCrypto(password)
        body = cipher.encrypt(bytes(11) + bytes([crc >> 24])) + cipher.encrypt(data)
        raw_name = name.encode("ascii")
        offset = len(out)
        fields = (20, 0x1, 0, 0, 0x5B7A, crc, len(body), len(data), len(raw_name), 0)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + raw_name + body
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, offset) + raw_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)
