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

# Two workers (pytest-xdist), a test file each at a time: each worker starts its own TimescaleDB,
# Mosquitto and, for the end-to-end tests, its own running system. The tests mostly wait on services.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

bench: deps
	$(BIN)/python -m bench

clean:
	rm -rf .local artifacts
