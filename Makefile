# akashi — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

# Debian packages the browser tests need: headless Chromium (driven by Playwright with
# executable_path, as browser downloads are not available) and a Japanese font for screenshots.
# Checked on every `make test` (a few milliseconds, so a package removed later is put back,
# which a stamp file would hide); apt runs only when one is missing. sudo only when not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo up test bench lint clean browser-deps

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/akashi-demo

# The same services, left running with the wallet app: prints the URLs; Ctrl-C stops them all.
up: $(STAMP)
	$(VENV)/bin/akashi-up

test: $(STAMP) browser-deps
	$(PY) -m pytest -q

browser-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	dpkg-query -W -f='$${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'install ok installed' \
		|| missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the browser tests:$$missing"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing \
			</dev/null; \
	fi

bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/registry.py
	$(PY) bench/issuance.py
	$(PY) bench/verification.py
	$(PY) bench/mailbox.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict identity registry issuer verifier holder_app akashi_demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
