# greenhook: every target that needs Python depends on the venv, so a fresh clone needs
# nothing but `make run` or `make test`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The pinned inputs people edit, and the locks `make lock` makes of them (hashes included).
DEV_INPUT := requirements-dev.txt
LAYER_INPUT := layers/greenhook/requirements.txt
DEV_LOCK := requirements-dev.lock
LAYER_LOCK := layers/greenhook/requirements.lock

include mk/python313.mk

.PHONY: install lock run test unit integration e2e lint format bench load schemas clean \
	register settings rotate-token unregister

install: $(STAMP)

# .venv runs the Lambda runtime's Python 3.13, so the tests run on it too (the code stays
# 3.11-compatible: ruff targets py311). A .venv made by another Python is rebuilt: its
# stamp is then out of date whatever its time.
ifneq ($(shell $(BIN)/python -c '$(IS_PYTHON313)' 2>/dev/null && echo 313),313)
.PHONY: $(STAMP)
endif

# Each name==version pinned in requirements files $(1) must be in lock $(2): a pin edited
# but not locked would otherwise be ignored without a word.
check_lock = for pin in $$(awk -F'==' '/^[A-Za-z0-9]/ { n = tolower($$1); sub(/\[.*/, "", n); \
	gsub(/[._]+/, "-", n); split($$2, v, /[ ;]/); print n "==" v[1] }' $(1)); do \
	grep -q "^$$pin[ ;]" $(2) || { echo "error: $$pin is not in $(2): run make lock" >&2; exit 1; }; done

# Only what the locks list, with their hashes. pip fetches uv (its lines of the dev lock),
# uv installs the rest; greenhook itself is built with the locked setuptools.
$(STAMP): $(DEV_LOCK) $(LAYER_LOCK) $(DEV_INPUT) $(LAYER_INPUT) pyproject.toml
	@$(CHECK_PYTHON313)
	@$(call check_lock,$(DEV_INPUT) $(LAYER_INPUT),$(DEV_LOCK))
	@$(call check_lock,$(LAYER_INPUT),$(LAYER_LOCK))
	$(BIN)/python -c '$(IS_PYTHON313)' 2>/dev/null || { rm -rf $(VENV) && "$(PYTHON313)" -m venv $(VENV); }
	awk '/^uv==/ { found = 1 } found { print; if (!/\\$$/) exit }' $(DEV_LOCK) > $(VENV)/uv-requirement.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r $(VENV)/uv-requirement.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps --no-build-isolation -e .
	touch $@

# Regenerates the locks from the pinned inputs (requirements*.txt): every file of each
# release with its hash. The layer's lock is for what Lambda runs (CPython 3.13 on
# manylinux2014 aarch64); the dev lock holds the same versions of what both share.
# No dependency on install, which needs the locks: .venv's uv if there is one, else uv on PATH.
UV ?= $(firstword $(wildcard $(BIN)/uv) uv)
lock:
	$(UV) pip compile --quiet --generate-hashes --python-version 3.13 \
		--python-platform aarch64-manylinux2014 --custom-compile-command "make lock" \
		$(LAYER_INPUT) -o $(LAYER_LOCK)
	$(UV) pip compile --quiet --generate-hashes --python-version 3.13 --universal \
		--custom-compile-command "make lock" -c $(LAYER_LOCK) \
		$(DEV_INPUT) -o $(DEV_LOCK)

# make run RUN_ARGS="--port 3001 --log-level DEBUG"
run: install
	$(BIN)/python -m greenhook_dev.local_stack $(RUN_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: install
	$(BIN)/pytest tests/unit -q

integration: install
	$(BIN)/pytest tests/integration -q

e2e: install
	$(BIN)/pytest tests/e2e -q

test: lint validate install
	$(BIN)/pytest -q

bench: install  # ARGS="--only d,e" for some of the figures
	$(BIN)/python -m greenhook_dev.bench $(ARGS)

# make load ARGS=...: the load and fault check against the local stack (issue 8)
load: install
	$(BIN)/python -m greenhook_dev.load $(ARGS)

# After editing schemas/events/*.json: write them into template.yaml's schema registry.
schemas: install
	$(BIN)/python -m greenhook_dev.event_schemas --write

# GREEN-API registration by hand: the local stack by default, ARGS="--stack NAME" for AWS.
register settings rotate-token unregister: install
	$(BIN)/greenhook $@ $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .local .pytest_cache .ruff_cache

include mk/sam.mk
