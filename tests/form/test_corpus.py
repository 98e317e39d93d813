"""Real-world .docx written by other projects (Word, LibreOffice, Google Docs,
Pages exports…): none is a fiche projet, and none may crash, hang or leak a
traceback. Each goes through the command line, as a script would run it.

The corpus lives outside the repository (../shared/corpus/docx). Without it the
test is skipped on a workstation, but fails in CI (CI=true), where a missing
corpus would otherwise pass silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = (REPO.parent / "shared" / "corpus" / "docx").resolve()
EXPECTED_EXIT = {"inconnu": 1, "illisible": 2}
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "path", FILES or [None], ids=[p.relative_to(CORPUS).as_posix() for p in FILES] or ["corpus-missing"]
)
def test_a_real_world_docx_is_unknown_or_unreadable_never_a_crash(path):
    if path is None:
        message = f"the real-world corpus is missing or empty: no file under {CORPUS}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: it must be there)")
        pytest.skip(message)

    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "bot", "check", str(path), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )
    elapsed = time.perf_counter() - start

    assert "Traceback" not in run.stderr, run.stderr
    result = json.loads(run.stdout)
    assert result["kind"] in EXPECTED_EXIT, result["kind"]
    assert run.returncode == EXPECTED_EXIT[result["kind"]], (run.returncode, run.stderr)
    assert result["file"] == path.name
    assert result["findings"], "an unknown or unreadable file must say why"
    assert result["valid"] is False
    assert elapsed < 5, f"{elapsed:.2f} s"
