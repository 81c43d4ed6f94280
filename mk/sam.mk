# SAM CLI targets (validate, build): see below.
.PHONY: validate
validate:
	@echo "validate: not yet"
