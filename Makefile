# Outfall: the two commands a newcomer needs are `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: deps run test lint bench clean

deps:
	@bash deploy/install-deps.sh

run: deps
	$(BIN)/outfall run

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: deps
	$(BIN)/python -m bench

clean:
	rm -rf .local artifacts
