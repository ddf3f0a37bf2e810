# OrderStream: `make run` starts the whole stack on embedded defaults,
# `make test` runs every test. Both install what a fresh machine lacks.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKGS := ./...
TEST_FLAGS ?= -count=1 -race -timeout 20m
# The broker of the tests that talk to Kafka (internal/kafkatest): apache
# (one Apache Kafka node per test binary), apache3 (three), or kfake (the
# in-process fake, fast). The fault suite starts clusters of its own.
TEST_KAFKA ?= apache
# The broker of make run, make infra and make bench: kfake (in-process, the default) or
# apache (a real Apache Kafka node; make kafka installs it).
KAFKA ?= kfake

.PHONY: all build devstack run infra test unit vet generate check-generated web check-web clients chromium schemathesis bench bench-smoke postgraphile faults tools postgres kafka valgrind clean

all: build

## build: compile the API and the worker into bin/
build:
	$(GO) build -o $(BIN)/orderstream .
	$(GO) build -o $(BIN)/orderstream-worker ./worker

## run: start PostgreSQL, the Kafka-protocol broker, the worker and the API (Ctrl-C stops all)
run: postgres build devstack $(if $(filter apache,$(KAFKA)),kafka)
	$(BIN)/devstack run -kafka $(KAFKA) -api $(BIN)/orderstream -worker $(BIN)/orderstream-worker

## infra: start only PostgreSQL and the broker, print DATABASE_URL and KAFKA_BROKERS
infra: postgres devstack $(if $(filter apache,$(KAFKA)),kafka)
	$(BIN)/devstack infra -kafka $(KAFKA)

devstack:
	$(GO) build -o $(BIN)/devstack ./cmd/devstack

## test: vet, check generated code and the GraphiQL bundle are fresh, then unit,
## integration and end-to-end tests (real-client tests included: Node.js, Chromium)
test: postgres kafka clients schemathesis valgrind vet check-generated check-web
	KAFKA_KIND=$(TEST_KAFKA) $(GO) test $(TEST_FLAGS) $(PKGS)

## unit: the tests that need no PostgreSQL, on the in-process broker (the
## kafka package's provisioning tests also start an Apache Kafka node)
unit: kafka
	KAFKA_KIND=kfake $(GO) test $(TEST_FLAGS) ./internal/order/... ./internal/kafka/... ./graph/...

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

## web: rebuild GraphiQL (web/graphiql, npm + esbuild) into internal/graphiql/assets (committed)
web: web/graphiql/node_modules/.package-lock.json
	cd web/graphiql && node build.mjs

## check-web: fail when the committed GraphiQL bundle differs from a fresh build
check-web: web
	@git diff --exit-code --stat -- internal/graphiql/assets || { echo "the GraphiQL bundle is stale: run 'make web' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- internal/graphiql/assets)" || { echo "untracked GraphiQL bundle files:"; git status --porcelain -- internal/graphiql/assets; exit 1; }

## clients: what the real-client tests (e2e/clients_test.go) need: the npm
## packages of clients/ and Debian's chromium
clients: clients/node_modules/.package-lock.json chromium

chromium:
	@./scripts/ensure-chromium.sh

## schemathesis: the pinned REST API fuzzer (PyPI) in .cache/schemathesis, for
## e2e/openapi_test.go (scripts/schemathesis-requirements.txt)
schemathesis:
	@./scripts/ensure-schemathesis.sh >/dev/null

# npm ci again only when the lock file changed (npm writes
# node_modules/.package-lock.json on each install).
%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## bench: Go benchmarks (partitioner: modulo vs CRC32), then the end-to-end
## benchmark (cmd/bench) once per broker of BENCH_KAFKA (kfake, then one Apache
## Kafka node; KAFKA=apache alone runs only that one): the stack on throwaway
## infrastructure (or DATABASE_URL / KAFKA_BROKERS), loaded over HTTP, with the
## seed design, the database floor and PostGraphile measured in the same run; a
## markdown table on stdout each, and with BENCH_OUT=FILE.md also in FILE-kfake.md
## and FILE-apache.md with their SVG charts beside them; the create and lookup
## phases run in BENCH_ROUNDS rounds (each round's ratios and their median are reported)
BENCH_FLAGS ?=
BENCH_ROUNDS ?= 3
BENCH_OUT ?=
BENCH_KAFKA ?= $(if $(filter command line environment,$(origin KAFKA)),$(KAFKA),kfake apache)
bench: $(if $(filter apache,$(BENCH_KAFKA)),kafka)
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/kafka/
	$(MAKE) --no-print-directory postgres build postgraphile
	$(GO) test -run='^$$' -bench=OrderDatabasePath -benchtime=1500x ./internal/postgres/
	$(GO) build -o $(BIN)/bench ./cmd/bench
	for k in $(BENCH_KAFKA); do \
		$(BIN)/bench -api-bin $(BIN)/orderstream -worker-bin $(BIN)/orderstream-worker -kafka $$k -rounds $(BENCH_ROUNDS) \
			$(if $(BENCH_OUT),-out $(basename $(BENCH_OUT))-$$k.md) $(BENCH_FLAGS) || exit 1; \
	done

## bench-smoke: the end-to-end benchmark with tiny durations (CI: it runs, it reports)
bench-smoke: postgres build postgraphile $(if $(filter apache,$(KAFKA)),kafka)
	$(GO) build -o $(BIN)/bench ./cmd/bench
	$(BIN)/bench -api-bin $(BIN)/orderstream -worker-bin $(BIN)/orderstream-worker -kafka $(KAFKA) \
		-duration 1s -warmup 250ms -levels 1,4 -rounds 2 -rest-level 4 -lookup-level 4 -grown-level 4 -rows 20000 $(BENCH_FLAGS)

## postgraphile: PostGraphile 4 (npm, pinned in deploy/postgraphile), the lookup baseline of the bench
postgraphile: deploy/postgraphile/node_modules/.package-lock.json

## faults: the fault suite in its long form, 60 s of load per case (docs/RELIABILITY.md);
## FAULTS_RUN selects cases, e.g. make faults FAULTS_RUN='TestFaults/^WorkerSIGKILL$'
FAULTS_RUN ?= .
faults: postgres
	FAULTS_DURATION=60s $(GO) test -count=1 -timeout 60m -v -run '$(FAULTS_RUN)' ./faults/

## postgres: install PostgreSQL server binaries if missing (Debian, as root)
postgres:
	@./scripts/ensure-postgres.sh

## kafka: fetch the Apache Kafka broker's jars (deploy/kafka/pom.xml) into
## .cache/kafka/ if missing (needs Java 17+ and Maven; docs/KAFKA.md)
kafka:
	@./scripts/ensure-kafka.sh

## valgrind: Debian's valgrind, for the bench's instruction counts (-callgrind)
valgrind:
	@./scripts/ensure-valgrind.sh

clean:
	rm -rf $(BIN)
