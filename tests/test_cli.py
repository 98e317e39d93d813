"""`citebot check` and `citebot template`: the contract of cli.md."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from docx_factory import docx, p
from sample_fiche import FIELDS, fiche


@pytest.fixture
def workdir(tmp_path):
    """A directory without any config.toml: check and template need none."""
    return tmp_path


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_check_json_of_a_valid_fiche_exits_0(workdir):
    path = write(workdir, "projet.docx", fiche())
    proc = run_cli("check", str(path), "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"file", "kind", "fields", "findings", "valid"}
    assert result["file"] == "projet.docx" and result["kind"] == "fiche_projet" and result["valid"] is True
    assert result["fields"] == FIELDS
    assert all(set(f) == {"code", "severity", "field", "message"} for f in result["findings"])


def test_check_json_of_a_fiche_with_errors_exits_1(workdir):
    path = write(workdir, "projet.docx", fiche({"Intitulé du projet": "", "Date de fin": "30/06/2028"}))
    proc = run_cli("check", str(path), "--json", cwd=workdir)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["valid"] is False
    assert {"champ_manquant", "duree_excessive"} <= {f["code"] for f in result["findings"]}
    assert result["fields"]["intitule"] is None


def test_check_of_a_word_file_that_is_not_a_fiche_exits_1(workdir):
    path = write(workdir, "notes.docx", docx(p("Compte rendu") + p("Rien à voir.")))
    proc = run_cli("check", str(path), "--json", cwd=workdir)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["kind"] == "inconnu"
    assert result["fields"]["parcours"] == [] and result["fields"]["intitule"] is None


def test_check_of_an_unreadable_file_exits_2_with_one_finding(workdir):
    path = write(workdir, "fiche.docx", b"%PDF-1.7\n%binary\n")
    proc = run_cli("check", str(path), "--json", cwd=workdir)
    assert proc.returncode == 2
    result = json.loads(proc.stdout)
    assert result["kind"] == "illisible"
    assert [f["code"] for f in result["findings"]] == ["fichier_illisible"]
    assert "format Word .docx, sans mot de passe" in result["findings"][0]["message"]


def test_check_without_json_prints_a_french_report(workdir):
    path = write(workdir, "projet.docx", fiche({"Courriel du référent": "pas une adresse"}))
    proc = run_cli("check", str(path), cwd=workdir)
    assert proc.returncode == 1
    out = proc.stdout
    assert "Champs lus :" in out and "Les petits reporters" in out
    assert out.index("À corriger (1)") < out.index("Pour information (1)")
    assert "« pas une adresse »" in out and "incomplète (1 point à corriger)" in out


def test_check_of_a_missing_file_says_so_in_french(workdir):
    proc = run_cli("check", str(workdir / "absent.docx"), cwd=workdir)
    assert proc.returncode == 2
    assert "Impossible de lire le fichier" in proc.stderr and "Traceback" not in proc.stderr


def test_template_writes_the_blank_form_that_check_reads_back_empty(workdir):
    out = workdir / "fiche-projet.docx"
    proc = run_cli("template", str(out), cwd=workdir)
    assert proc.returncode == 0 and out.exists()
    result = json.loads(run_cli("check", str(out), "--json", cwd=workdir).stdout)
    assert result["kind"] == "fiche_projet"
    assert {f["code"] for f in result["findings"]} == {"champ_manquant"}


def test_template_into_a_missing_folder_fails_cleanly(workdir):
    proc = run_cli("template", str(workdir / "nope" / "fiche.docx"), cwd=workdir)
    assert proc.returncode == 1
    assert "Impossible d'écrire" in proc.stderr and "Traceback" not in proc.stderr


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("citebot")
    if not script.exists():
        pytest.skip("citebot is not installed in this environment (run `make test`)")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "check" in proc.stdout and "template" in proc.stdout


@pytest.mark.slow
def test_rules_are_found_from_an_installed_wheel(tmp_path):
    """Not editable: the wheel carries rules/ and templates_mail/ inside the package."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("citebot-*.whl"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere, "projet.docx", fiche())
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    where = subprocess.run([sys.executable, "-c", "from bot.paths import rules_dir, templates_dir; "
                            "print(rules_dir()); print(templates_dir())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(target)) for line in where.stdout.split())
    proc = subprocess.run([sys.executable, "-m", "bot", "check", "projet.docx", "--json"],
                          cwd=elsewhere, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["fields"] == FIELDS
    shutil.rmtree(wheels)
