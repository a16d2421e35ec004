# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   := torch==2.13.0
STAMP   := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

# torch goes in first, pinned, so nothing below can pull a different (multi-GB) build. pip would compile the
# installed modules to bytecode one file at a time; compileall does it on every core (the venv took 158 s here,
# 214 s with pip compiling).
# The bytecode is needed: where PYTHONDONTWRITEBYTECODE is set, a process imports nothing from a cache it
# cannot write, and every one would compile torch afresh (seconds each). A file compileall cannot compile
# (a package's template or Python 2 example) is left to its source, as pip leaves it.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile $(TORCH)
	$(BIN)/pip install -q --no-compile -e '.[all]' $(TORCH)
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	$(BIN)/python -c "import torch, sys; v = torch.__version__.split('+')[0]; sys.exit(0 if v == '2.13.0' else 'torch %s replaced the pinned 2.13.0' % v)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deepsci fit examples/solubility.toml --out runs

test: $(STAMP)
	$(BIN)/python -m compileall -q src > /dev/null  # the library's bytecode, for the suite's ~100 processes
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -n 2

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache
