# citebot — the two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable install with the test tools; redone when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest -q

demo: install
	@mkdir -p demo
	$(BIN)/citebot template demo/fiche-projet-vierge.docx
	$(BIN)/python -m bot.samples demo
	@# This sample has errors on purpose: check exits 1 and says what to fix.
	@$(BIN)/citebot check demo/exemple-fiche-avec-erreurs.docx || true
	@echo
	$(BIN)/citebot check demo/exemple-fiche-complete.docx

bench: install
	$(BIN)/python bench/check_bench.py

clean:
	rm -rf $(VENV) demo .pytest_cache build dist
