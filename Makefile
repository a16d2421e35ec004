# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   := torch==2.13.0
STAMP   := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

# torch goes in first, pinned, so nothing below can pull a different (multi-GB) build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[all]' $(TORCH)
	$(BIN)/python -c "import torch, sys; v = torch.__version__.split('+')[0]; sys.exit(0 if v == '2.13.0' else 'torch %s replaced the pinned 2.13.0' % v)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deepsci fit examples/solubility.toml --out runs

test: $(STAMP)
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -n 2

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache
