import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["fixtures_servers"]

from bot.form.check import check_bytes
from bot.form.report import as_json
from bot.rules import load_rules

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def rules():
    return load_rules()


@pytest.fixture
def read(rules):
    """Check a .docx given as bytes; the result as the JSON of `check --json`."""

    def _read(data: bytes) -> dict:
        return as_json(check_bytes(data, rules), "fiche.docx")

    return _read


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["findings"]]


def parsed(stdout: str) -> dict:
    return json.loads(stdout)
