# make train: set up .venv (first time) and run the main job on the bundled digits.
# make test:  set up .venv (first time) and run the test suite (everything; CI).
# make check: the quick tier for the edit loop: every library module's fast tests and the layout checks.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.c147-installed

.PHONY: install train test check lint bench clean-venv

# pip -qq: its errors, not the warnings a machine's own pip configuration may print on every install
$(STAMP): pyproject.toml
	@echo "make: installing c147 and its dependencies into $(VENV) (the first time: 1-2 minutes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	@$(BIN)/c147-train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

# the end-to-end runs (tests/app, tests/lit: Lightning and the console scripts) and tests marked slow are left
# to make test
check: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -x --ignore=tests/app --ignore=tests/lit $(ARGS)

bench: $(STAMP)
	$(BIN)/c147-bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean-venv:
	rm -rf $(VENV)
