# OrderStream: `make run` starts the whole stack on embedded defaults,
# `make test` runs every test. Both install what a fresh machine lacks.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKGS := ./...
TEST_FLAGS ?= -count=1 -race -timeout 20m

.PHONY: all build devstack run infra test unit vet generate check-generated bench tools postgres clean

all: build

## build: compile the API and the worker into bin/
build:
	$(GO) build -o $(BIN)/orderstream .
	$(GO) build -o $(BIN)/orderstream-worker ./worker

## run: start PostgreSQL, the Kafka-protocol broker, the worker and the API (Ctrl-C stops all)
run: postgres build devstack
	$(BIN)/devstack run -api $(BIN)/orderstream -worker $(BIN)/orderstream-worker

## infra: start only PostgreSQL and the broker, print DATABASE_URL and KAFKA_BROKERS
infra: postgres devstack
	$(BIN)/devstack infra

devstack:
	$(GO) build -o $(BIN)/devstack ./cmd/devstack

## test: vet, check generated code is fresh, then unit, integration and end-to-end tests
test: postgres vet check-generated
	$(GO) test $(TEST_FLAGS) $(PKGS)

## unit: the tests that need no database or broker
unit:
	$(GO) test $(TEST_FLAGS) ./internal/order/... ./internal/kafka/... ./graph/...

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

## generate: regenerate gqlgen and sqlc output (committed)
generate:
	$(GO) tool gqlgen generate
	$(GO) tool sqlc generate

## check-generated: fail when committed generated code is stale
check-generated: generate
	@git diff --exit-code --stat -- graph internal/postgres/db || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- graph internal/postgres/db)" || { echo "untracked generated files:"; git status --porcelain -- graph internal/postgres/db; exit 1; }

## bench: Go benchmarks (partitioner: modulo vs CRC32)
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/kafka/

## postgres: install PostgreSQL server binaries if missing (Debian, as root)
postgres:
	@./scripts/ensure-postgres.sh

clean:
	rm -rf $(BIN)
