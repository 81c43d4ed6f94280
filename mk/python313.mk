# PYTHON313: a CPython 3.13, the version of Lambda's python3.13 runtime. Included by the
# top-level Makefile (.venv and the tool venvs run on it) and by layers/greenhook/Makefile
# (the layer's bytecode must come from the runtime's own minor version).
#
# Found in this order: PYTHON313 given by the caller, a working python3.13 on PATH, the
# newest 3.13 that pyenv has, one that uv knows. The pyenv shim on PATH answers "command
# not found" unless 3.13 is selected, hence the trial run. Resolved to sys.executable so no
# shim or PYENV_VERSION is needed afterwards. Looked up once, and only when a recipe uses it.

IS_PYTHON313 := import sys; sys.exit(sys.version_info[:2] != (3, 13))

ifeq ($(origin PYTHON313),undefined)
PYTHON313 = $(eval PYTHON313 := $(shell \
	is313='$(IS_PYTHON313)'; \
	where='import sys; print(sys.executable)'; \
	if python3.13 -c "$$is313" 2>/dev/null; then python3.13 -c "$$where"; \
	elif v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | sort -V | tail -n 1) \
		&& [ -n "$$v" ]; then PYENV_VERSION=$$v pyenv exec python -c "$$where"; \
	elif p=$$(uv python find --no-python-downloads 3.13 2>/dev/null) && [ -n "$$p" ]; then echo "$$p"; \
	fi))$(PYTHON313)
endif

# A recipe line that stops the build with a clear message when no 3.13 was found. uv could
# download one, but only where the network allows it: say so rather than try.
CHECK_PYTHON313 = test -n "$(PYTHON313)" && "$(PYTHON313)" -c '$(IS_PYTHON313)' || { \
	echo "error: no Python 3.13 found (the version of Lambda's python3.13 runtime)." >&2; \
	echo "  Put python3.13 on PATH (with pyenv: PYENV_VERSION=3.11.7:3.13.0, 'pyenv install 3.13')," >&2; \
	echo "  run 'uv python install 3.13', or pass PYTHON313=/path/to/python3.13." >&2; \
	exit 1; }
