"""Benchmark of `check`: our reader against python-docx alone, and the CLI end to end.

Run: .venv/bin/python bench/check_bench.py [--forms N] [--repeat R]
It is a benchmark, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import docx  # noqa: E402

from bot.form.check import FICHE, check_bytes  # noqa: E402
from bot.form.fill import fill_fiche  # noqa: E402
from bot.form.samples import COMPLETE, WITH_ERRORS  # noqa: E402
from bot.form.template import build_template  # noqa: E402
from bot.rules import load_rules  # noqa: E402

RATIO_TARGET = 1.5  # our check ≤ 1.5× python-docx alone
CLI_TARGET = 0.5  # seconds per form, end to end
CLI_FORMS = 15
WORDS = "atelier enfants parents école quartier lecture radio théâtre sport jardin musique sciences".split()


def varied_answers(rng: random.Random, i: int) -> dict:
    """One porteur's answers: a sample with other texts, lengths, materiel and options."""
    answers = dict(rng.choice([COMPLETE, WITH_ERRORS]))
    sentence = lambda n: " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."  # noqa: E731
    answers["intitule"] = f"Projet {i} : {sentence(rng.randint(2, 6))}"
    answers["structure"] = f"Association {rng.choice(WORDS).title()} {i}"
    answers["public_vise"] = sentence(rng.randint(3, 12))
    answers["description"] = "\n".join(sentence(rng.randint(5, 30)) for _ in range(rng.choice([1, 3, 10, 40])))
    answers["parcours"] = rng.sample(["citoyen", "avenir", "sport_sante_bien_etre", "artistique_culturel"], rng.randint(1, 3))
    answers["secteurs"] = rng.sample(["curie", "riaumont", "descartes"], rng.randint(1, 3))
    answers["temps"] = rng.sample(["scolaire", "periscolaire", "extrascolaire"], rng.randint(1, 2))
    answers["type_porteur"] = rng.choice(["association", "service_ville", "education_nationale"])
    answers["photos_mineurs"] = rng.random() < 0.5
    answers["engagement_communication"] = rng.random() < 0.8
    answers["materiel"] = [
        {"designation": f"{rng.choice(WORDS).title()} {k}", "quantite": str(rng.randint(1, 10)),
         "prix_unitaire_ht": f"{rng.randint(10, 900)},00 €"}
        for k in range(rng.randint(0, 8))
    ]
    return answers


def build_forms(folder: Path, n: int, rules) -> list[Path]:
    template = build_template(rules)
    rng = random.Random(42)  # same forms from one run to the next
    paths = []
    for i in range(n):
        path = folder / f"fiche-{i:03d}.docx"
        path.write_bytes(fill_fiche(template, varied_answers(rng, i), rules))
        paths.append(path)
    return paths


def ours(path: Path, rules) -> None:
    check_bytes(path.read_bytes(), rules)


def python_docx_alone(path: Path, rules) -> None:
    doc = docx.Document(str(path))
    for t in doc.tables:
        for row in t.rows:
            for cell in row.cells:
                _ = cell.text  # what is measured: reading every cell


def timed(func, *args) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def median_per_form(funcs, paths, repeat, *args) -> list[float]:
    """Median over all forms × repeats of each function, interleaved form by form to share any drift."""
    samples = [[] for _ in funcs]
    for path in paths:
        for _ in range(repeat):
            for k, func in enumerate(funcs):
                samples[k].append(timed(func, path, *args))
    return [statistics.median(s) for s in samples]


def run_cli(command: list[str], path: Path) -> None:
    subprocess.run([*command, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=50, help="number of filled forms (default 50)")
    parser.add_argument("--repeat", type=int, default=5, help="timings per form and measure (default 5)")
    args = parser.parse_args()

    print(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}")
    print(f"CPUs: {os.cpu_count()}  forms: {args.forms}  repeats: {args.repeat}\n")

    rules = load_rules()  # once, as the CLI does once per process
    with tempfile.TemporaryDirectory(prefix="citebot-bench-") as tmp:
        paths = build_forms(Path(tmp), args.forms, rules)
        read_as_fiche = sum(check_bytes(p.read_bytes(), rules).kind == FICHE for p in paths)
        print(f"Forms read as a fiche projet: {read_as_fiche}/{len(paths)} (else the timings mean little)\n")
        for path in paths[:5]:  # warm-up: imports, caches, disk
            ours(path, rules)
            python_docx_alone(path, rules)
        t_ours, t_docx = median_per_form([ours, python_docx_alone], paths, args.repeat, rules)

        commands = {"python -m bot check": [sys.executable, "-m", "bot", "check"]}
        script = Path(sys.executable).with_name("citebot")
        if script.exists():
            commands["citebot check"] = [str(script), "check"]
        subset = paths[:CLI_FORMS]
        cli = {}
        for label, command in commands.items():
            run_cli(command, subset[0])  # warm-up: .pyc files, page cache
            cli[label] = median_per_form([lambda p, c=command: run_cli(c, p)], subset, args.repeat)[0]

    ratio = t_ours / t_docx
    rows = [("check_bytes (read + check)", f"{t_ours * 1000:8.2f} ms"),
            ("python-docx alone", f"{t_docx * 1000:8.2f} ms"),
            ("ratio ours / python-docx", f"{ratio:8.2f} ×")]
    rows += [(f"CLI {label} ({len(subset)} forms)", f"{t * 1000:8.1f} ms") for label, t in cli.items()]
    if not script.exists():
        rows.append(("CLI citebot check", "     n/a (console script not installed)"))
    width = max(len(name) for name, _ in rows)
    print(f"{'median per form':<{width}}  time")
    print("-" * (width + 14))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print(f"Target check ≤ {RATIO_TARGET}× python-docx alone: {ratio:.2f}× -> {verdict(ratio <= RATIO_TARGET)}")
    for label, t in cli.items():
        print(f"Target CLI ≤ {CLI_TARGET} s per form ({label}): {t:.3f} s -> {verdict(t <= CLI_TARGET)}")


if __name__ == "__main__":
    main()
