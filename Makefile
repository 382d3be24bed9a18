# Task runner. `make demo` and `make test` are the README's two commands.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench browser fonts mailservers clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) fonts
	$(BIN)/outreach demo

# Debian's chromium for the Playwright browser tests (never a browser download), with its
# translations (chromium-l10n: run in Japanese, date and time inputs show 2026/12/04 09:30 as
# on the dealer's machines), Japanese fonts so screenshots and the A4 PDF documents show text
# rather than boxes (IPA Gothic and Mincho), Pango for WeasyPrint, poppler-utils (pdftoppm) to
# look at the PDF pages (the disclosure and the letters), npm for axe-core (injected into
# every page by the accessibility walk).
BROWSER_PKGS := chromium chromium-l10n fonts-ipafont-gothic fonts-ipafont-mincho libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils
BROWSER_PKGS += opendkim-tools  # OpenDKIM, the second DKIM verifier in the tests
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
browser:
	@missing=$$(for p in $(BROWSER_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "browser tests need: sudo apt-get install $$missing" >&2; fi; \
	fi
	@test -f $(AXE) || (cd tests/e2e/axe && npm install --no-save --no-audit --no-fund --no-package-lock axe-core@4.11.0 >/dev/null)

# The IPA fonts the printable letters (PDF) are set in; HarfBuzz-Subset, which WeasyPrint uses
# to embed only the glyphs a PDF needs (without it, it warns on import); poppler-utils' pdftoppm
# to look at them.
FONT_PKGS := fonts-ipafont-gothic fonts-ipafont-mincho libharfbuzz-subset0 poppler-utils
fonts:
	@missing=$$(for p in $(FONT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "printable letters use: sudo apt-get install $$missing" >&2; fi; \
	fi

# Debian's postfix and dovecot for the report-mailbox tests (tests/postfixkit.py and
# tests/dovecotkit.py run private instances, `postfix -c DIR` / `dovecot -c FILE`, on loopback
# ports). Postfix is installed unconfigured ("No configuration"); the system-wide daemons are
# neither configured for anything nor started by the tests.
MAIL_PKGS := postfix dovecot-imapd openssl
mailservers:
	@missing=$$(for p in $(MAIL_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "report-mailbox tests need: sudo apt-get install $$missing" >&2; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check outreach tests bench
	$(BIN)/ruff format --check outreach tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# Two test processes: most tests wait on subprocesses, servers and browsers, so two share the
# two cores well; a file's tests stay in one process (--dist loadfile).
TEST_PROCS ?= 2
test: $(STAMP) browser mailservers lint typecheck
	$(BIN)/pytest -q -n $(TEST_PROCS) --dist loadfile --durations=20

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
