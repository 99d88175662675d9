# Two commands matter: `make run` and `make test`. Both set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BUILD := build
ARCHIVE := $(BUILD)/orders-archive
RUN_OUT := $(BUILD)/orders-per-minute

.PHONY: setup run test clean

setup: $(INSTALLED)

$(INSTALLED): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# A day of order traffic as an Avro archive, backfilled by the reference pipeline on the DirectRunner family.
run: $(INSTALLED)
	$(BIN)/kappa generate orders --output $(ARCHIVE) --format avro --seed 7
	$(BIN)/kappa run orders-per-minute --input '$(ARCHIVE)/*.avro' --input-format avro \
		--output $(RUN_OUT) --mode batch --runner direct

test: $(INSTALLED)
	$(BIN)/pytest -q tests

clean:
	rm -rf $(BUILD) $(VENV) *.egg-info
