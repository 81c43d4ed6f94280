# SAM CLI and checkov targets: validate, build, deploy. Included by the top-level Makefile.
#
# SAM CLI pins boto3 and caps pydantic below what greenhook uses, and checkov pins its own
# versions of half of PyPI, so each lives in its own virtualenv (.venv-sam, .venv-checkov),
# never in .venv. uv (installed into .venv by `install`) creates them in seconds; a stamp
# named after the version reinstalls one when its pin here changes.
SAM_CLI_VERSION := 1.170.0
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# Offline and quiet: no credentials exist here, and validate/build need none; a region is
# still required by the SAM translator and cfn-lint. A region set by the caller wins.
SAM_ENV := AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-$${AWS_REGION:-us-east-1}} SAM_CLI_TELEMETRY=0
# checkov asks PyPI for a newer checkov and Prisma Cloud for guidelines unless told not to.
CHECKOV_ENV := CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=true

.PHONY: sam-install checkov-install validate build deploy

sam-install: $(SAM_STAMP)
checkov-install: $(CHECKOV_STAMP)

# `install` is order-only: it provides uv, but a reinstall of .venv must not rebuild these.
$(SAM_STAMP): | install
	rm -rf $(SAM_VENV)
	$(BIN)/uv venv --quiet --python "$(PYTHON313)" $(SAM_VENV)
	$(BIN)/uv pip install --quiet --python $(SAM_VENV)/bin/python aws-sam-cli==$(SAM_CLI_VERSION)
	$(SAM) --version
	touch $@

$(CHECKOV_STAMP): | install
	rm -rf $(CHECKOV_VENV)
	$(BIN)/uv venv --quiet --python "$(PYTHON313)" $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python checkov==$(CHECKOV_VERSION)
	$(CHECKOV) --version
	touch $@

# cfn-lint, SAM's own validation (the transform and its linter), then checkov's security
# checks: a finding fails the target unless template.yaml skips it on the resource
# (Metadata: checkov: skip) with the reason. All offline.
validate: install $(SAM_STAMP) $(CHECKOV_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM_ENV) $(SAM) validate --lint --template-file template.yaml
	$(CHECKOV_ENV) $(CHECKOV) --file template.yaml --framework cloudformation --skip-download \
		--quiet --compact

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
