# The two commands of the README: `make demo` and `make test` (each sets up .venv first).
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: demo test setup clean

demo: $(STAMP)
	$(VENV)/bin/neurender demo --out demo_out

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)

clean:
	rm -rf demo_out .pytest_cache
