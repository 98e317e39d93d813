# citebot — the two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install imap-server bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable install with the test tools; redone when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install imap-server
	$(BIN)/python -m pytest -q

# The IMAP integration tests start their own Dovecot (as nobody, from a temporary
# config: tests/servers.py); they only need the binary, installed here when it is
# missing and we are root. The package's system service must not run: a policy-rc.d
# made for the install only (when there is none) keeps it from starting, and it is
# stopped (and disabled under systemd) afterwards in any case. Without Dovecot the
# IMAP tests are skipped, or fail when CI=true.
DOVECOT := /usr/sbin/dovecot
POLICY_RC := /usr/sbin/policy-rc.d

imap-server:
	@if [ -x $(DOVECOT) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "Note : les tests IMAP ont besoin de Dovecot, absent ($(DOVECOT)). En root, 'make test'"; \
		echo "l'installe (paquet Debian dovecot-imapd) ; sinon : sudo apt-get install dovecot-imapd."; \
		echo "Sans lui, ces tests sont ignorés (et échouent en CI)."; \
		exit 0; \
	fi; \
	echo "Installation de dovecot-imapd (serveur IMAP des tests d'intégration)..."; \
	if [ ! -e $(POLICY_RC) ]; then \
		trap 'rm -f $(POLICY_RC)' EXIT INT TERM; \
		printf '#!/bin/sh\nexit 101\n' > $(POLICY_RC) && chmod 755 $(POLICY_RC); \
	fi; \
	apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd \
		>/dev/null; \
	rc=$$?; \
	if [ -d /run/systemd/system ]; then \
		systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true; \
	elif [ -e /run/dovecot/master.pid ]; then \
		$(DOVECOT) stop >/dev/null 2>&1 || true; \
	fi; \
	if [ $$rc != 0 ]; then \
		echo "Échec de l'installation de dovecot-imapd : les tests IMAP ne pourront pas tourner."; \
		if [ "$$CI" = true ]; then exit 1; fi; \
	fi

# A whole cycle on local Maildirs: sample submissions in, .eml answers out (demo/).
demo: install
	rm -rf demo
	$(BIN)/citebot demo demo
	$(BIN)/citebot template demo/fiche-projet-vierge.docx

bench: install
	$(BIN)/python bench/check_bench.py

clean:
	rm -rf $(VENV) demo .pytest_cache build dist
