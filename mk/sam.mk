# SAM CLI targets: validate, build, deploy. Included by the top-level Makefile.
#
# SAM CLI pins boto3 and caps pydantic below what greenhook uses, so it lives in its own
# virtualenv (.venv-sam), never in .venv. uv (installed into .venv by `install`) creates it
# in seconds; the stamp reinstalls it when this file (and so the pin) changes.
SAM_CLI_VERSION := 1.170.0
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM := $(SAM_VENV)/bin/sam
# Offline and quiet: no credentials exist here, and validate/build need none; a region is
# still required by the SAM translator and cfn-lint. A region set by the caller wins.
SAM_ENV := AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-$${AWS_REGION:-us-east-1}} SAM_CLI_TELEMETRY=0

.PHONY: sam-install validate build deploy

sam-install: $(SAM_STAMP)

# `install` is order-only: it provides uv, but a reinstall of .venv must not rebuild this one.
$(SAM_STAMP): mk/sam.mk | install
	rm -rf $(SAM_VENV)
	$(BIN)/uv venv --quiet --python $(PYTHON) $(SAM_VENV)
	$(BIN)/uv pip install --quiet --python $(SAM_VENV)/bin/python aws-sam-cli==$(SAM_CLI_VERSION)
	$(SAM) --version
	touch $@

validate: install $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM_ENV) $(SAM) validate --lint --template-file template.yaml

# arm64/python3.13 artifacts on an x86 machine without Docker: every resource builds with
# BuildMethod: makefile (the layer's Makefile asks pip for aarch64 wheels and compiles
# bytecode with a python3.13 it finds itself). A clean build each time: no --cached.
build: $(SAM_STAMP)
	$(SAM_ENV) $(SAM) build --template-file template.yaml

# Asks for the stack name, region and parameters, then shows the change set before it
# runs (defaults in samconfig.toml). Needs AWS credentials.
# A fresh DeployId makes the GreenApiRegistration custom resource check GREEN-API's
# settings on every deploy (CloudFormation only updates a resource whose properties change).
deploy: build
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --guided --parameter-overrides DeployId=$$(date +%s)
