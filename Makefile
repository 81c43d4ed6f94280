# greenhook: every target that needs Python depends on the venv, so a fresh clone needs
# nothing but `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test unit integration e2e lint format bench clean \
	register settings rotate-token unregister

install: $(STAMP)

$(STAMP): requirements-dev.txt layers/greenhook/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements-dev.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

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

# GREEN-API registration by hand: the local stack by default, ARGS="--stack NAME" for AWS.
register settings rotate-token unregister: install
	$(BIN)/greenhook $@ $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .local .pytest_cache .ruff_cache

include mk/sam.mk
