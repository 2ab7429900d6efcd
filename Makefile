# awdaflow: one target per habit. Every variable below can be overridden on
# the command line or from the environment, e.g. `make fuzz FUZZTIME=5m`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
BIN      ?= $(CURDIR)/bin
GOPATH_BIN := $(shell $(GO) env GOPATH)/bin

# Pinned tools. The Temporal CLI v1.5.1 is the newest the module proxy serves
# here; staticcheck 2026.2.2 is the first release that understands Go 1.26.
TEMPORAL_CLI_MOD     ?= github.com/temporalio/cli
TEMPORAL_CLI_PKG     ?= $(TEMPORAL_CLI_MOD)/cmd/temporal
TEMPORAL_CLI_VERSION ?= v1.5.1
STATICCHECK_MOD      ?= honnef.co/go/tools
STATICCHECK_PKG      ?= $(STATICCHECK_MOD)/cmd/staticcheck
STATICCHECK_VERSION  ?= v0.8.2
WORKFLOWCHECK_MOD    ?= go.temporal.io/sdk/contrib/tools/workflowcheck
WORKFLOWCHECK_PKG    ?= $(WORKFLOWCHECK_MOD)
WORKFLOWCHECK_VERSION ?= v0.6.0
# Temporal's own server and its schema tool, for the production lane
# (STACK=server). The one pin of the server's version: deploy's tests hold
# docker-compose.yml's temporalio/server and admin-tools tags to it. v1.30.1
# builds here with the machine's Go (a cold build takes about 12 minutes on
# 2 cores; the binary is 126 MB).
TEMPORAL_SERVER_MOD     ?= go.temporal.io/server
TEMPORAL_SERVER_PKG     ?= $(TEMPORAL_SERVER_MOD)/cmd/server
TEMPORAL_SQL_TOOL_PKG   ?= $(TEMPORAL_SERVER_MOD)/cmd/tools/sql
TEMPORAL_SERVER_VERSION ?= v1.30.1
# Temporal's Web UI server for that lane (the dev server embeds its own UI),
# the version of compose's temporalio/ui image (deploy's tests check it).
# `go install` refuses it (its go.mod has replace directives): it is built
# from a throwaway module instead, in about 2 minutes.
TEMPORAL_UI_MOD     ?= github.com/temporalio/ui-server/v2
TEMPORAL_UI_PKG     ?= $(TEMPORAL_UI_MOD)/cmd/server
TEMPORAL_UI_VERSION ?= v2.34.0

TEMPORAL      ?= $(BIN)/temporal
STATICCHECK   ?= $(BIN)/staticcheck
WORKFLOWCHECK ?= $(BIN)/workflowcheck
TEMPORAL_SERVER   ?= $(BIN)/temporal-server
TEMPORAL_SQL_TOOL ?= $(BIN)/temporal-sql-tool
TEMPORAL_UI       ?= $(BIN)/temporal-ui-server

# Integration tests (real dev server, real PostgreSQL, the sandbox over HTTP)
# sit behind this build tag; `make test` always includes them.
TAGS      ?= integration
# Two modules: the product (this directory) and its tools (tools/, a module of
# its own that requires the product through a replace directive). PKGS are
# the product's packages, TOOLS_PKGS the tools' (relative to tools/).
PKGS       ?= ./...
TOOLS      := $(CURDIR)/tools
TOOLS_PKGS ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 45m
# `make fuzz-short` runs every fuzz target briefly; `make fuzz` runs each for
# FUZZTIME. `make test` runs only the committed corpora (go test runs every
# seed of every Fuzz target): random exploration made CI fail on new findings
# at random, which belongs to a fuzzing job whose findings become seeds.
FUZZTIME_SHORT ?= 5s
FUZZTIME       ?= 60s
BENCHPKGS      ?= ./awda/
BENCHFLAGS     ?= -benchmem -count=1

# The test harness (internal/testenv) finds the CLI through this variable.
export TEMPORAL_CLI ?= $(TEMPORAL)

# STACK=server runs make run, make chaos and make bench on the production
# lane (Temporal's own server on PostgreSQL, 2 workers and 2 starters)
# instead of the dev server; see docs/operations.md.
STACK ?= dev
export STACK
LANE_TOOLS := $(if $(filter server,$(STACK)),temporal-server)

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

# tool_install(path, module, package, version): install into $(BIN) unless the
# binary there was already built from module@version (go version -m tells).
define tool_install
	@if [ -x "$(1)" ] && $(GO) version -m "$(1)" 2>/dev/null | grep -qE "mod[[:space:]]+$(2)[[:space:]]+$(4)([[:space:]]|$$)"; then \
		echo "ok   $(1) ($(2) $(4))"; \
	elif [ "$(2)" = "$(TEMPORAL_CLI_MOD)" ] && [ -x "$(GOPATH_BIN)/temporal" ] && \
		$(GO) version -m "$(GOPATH_BIN)/temporal" 2>/dev/null | grep -qE "mod[[:space:]]+$(2)[[:space:]]+$(4)([[:space:]]|$$)"; then \
		mkdir -p "$(BIN)" && cp "$(GOPATH_BIN)/temporal" "$(1)" && echo "copy $(GOPATH_BIN)/temporal -> $(1)"; \
	else \
		echo "go install $(3)@$(4) -> $(BIN)"; \
		mkdir -p "$(BIN)" && GOBIN="$(BIN)" $(GO) install "$(3)@$(4)"; \
	fi
endef

# tool_install_as(path, module, package, version): tool_install for a binary
# whose package's name is not the one we give it (go install names it after
# the package: server, sql): built in a staging directory, then moved.
define tool_install_as
	@if [ -x "$(1)" ] && $(GO) version -m "$(1)" 2>/dev/null | grep -qE "mod[[:space:]]+$(2)[[:space:]]+$(4)([[:space:]]|$$)"; then \
		echo "ok   $(1) ($(2) $(4))"; \
	else \
		echo "go install $(3)@$(4) -> $(1) (the server takes 5-15 minutes, once)"; \
		stage="$(BIN)/.install-$$(basename $(1))"; rm -rf "$$stage"; mkdir -p "$$stage" && \
		GOBIN="$$stage" $(GO) install "$(3)@$(4)" && mv "$$stage/$$(basename $(3))" "$(1)" && rm -rf "$$stage"; \
	fi
endef

.PHONY: tools
tools: lint-tools temporal-server ## Install the pinned Temporal CLI, staticcheck, workflowcheck, Temporal's server and sql tool into ./bin (only when missing).

.PHONY: lint-tools
lint-tools: ## Just the Temporal CLI, staticcheck and workflowcheck (what make lint needs).
	$(call tool_install,$(TEMPORAL),$(TEMPORAL_CLI_MOD),$(TEMPORAL_CLI_PKG),$(TEMPORAL_CLI_VERSION))
	$(call tool_install,$(STATICCHECK),$(STATICCHECK_MOD),$(STATICCHECK_PKG),$(STATICCHECK_VERSION))
	$(call tool_install,$(WORKFLOWCHECK),$(WORKFLOWCHECK_MOD),$(WORKFLOWCHECK_PKG),$(WORKFLOWCHECK_VERSION))

.PHONY: temporal-server
temporal-server: ## Install Temporal's own server and sql tool (TEMPORAL_SERVER_VERSION) into ./bin, for STACK=server (only when missing).
	$(call tool_install_as,$(TEMPORAL_SERVER),$(TEMPORAL_SERVER_MOD),$(TEMPORAL_SERVER_PKG),$(TEMPORAL_SERVER_VERSION))
	$(call tool_install_as,$(TEMPORAL_SQL_TOOL),$(TEMPORAL_SERVER_MOD),$(TEMPORAL_SQL_TOOL_PKG),$(TEMPORAL_SERVER_VERSION))

.PHONY: temporal-ui
temporal-ui: ## Build Temporal's Web UI server (TEMPORAL_UI_VERSION) into ./bin, for make run STACK=server (only when missing).
	@if [ -x "$(TEMPORAL_UI)" ] && $(GO) version -m "$(TEMPORAL_UI)" 2>/dev/null | grep -qE "mod[[:space:]]+$(TEMPORAL_UI_MOD)[[:space:]]+$(TEMPORAL_UI_VERSION)([[:space:]]|$$)"; then \
		echo "ok   $(TEMPORAL_UI) ($(TEMPORAL_UI_MOD) $(TEMPORAL_UI_VERSION))"; \
	else \
		echo "go build $(TEMPORAL_UI_PKG)@$(TEMPORAL_UI_VERSION) -> $(TEMPORAL_UI) (about 2 minutes, once)"; \
		tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && $(GO) mod init awdaflow-ui-build >/dev/null 2>&1 && \
		$(GO) get "$(TEMPORAL_UI_PKG)@$(TEMPORAL_UI_VERSION)" && mkdir -p "$(BIN)" && $(GO) build -o "$(TEMPORAL_UI)" "$(TEMPORAL_UI_PKG)"; \
	fi

.PHONY: build
build: ## Compile every package and binary of both modules.
	$(GO) build ./...
	cd $(TOOLS) && $(GO) build ./...

# tool_build(name): build tools/cmd/<name> into $(BIN); the tools run from the
# repository root, like every command here.
define tool_build
	cd $(TOOLS) && $(GO) build -o $(BIN)/ ./cmd/$(1)
endef

.PHONY: fmt
fmt: ## Rewrite every Go file with gofmt.
	gofmt -w $$(git ls-files -co --exclude-standard '*.go')

.PHONY: lint
lint: lint-tools ## gofmt check, go.mod tidy (both modules), go vet, staticcheck, workflowcheck, the product/tools boundary, no function over 80 lines without a reason (funclen).
	@files=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi
	$(GO) mod tidy -diff
	cd $(TOOLS) && $(GO) mod tidy -diff
	$(GO) vet -tags $(TAGS) $(PKGS)
	cd $(TOOLS) && $(GO) vet -tags $(TAGS) $(TOOLS_PKGS)
	$(STATICCHECK) -tags $(TAGS) $(PKGS)
	cd $(TOOLS) && $(STATICCHECK) -tags $(TAGS) $(TOOLS_PKGS)
	$(GO) test -count=1 -run '^TestBoundary' ./deploy/
	$(call tool_build,funclen)
	$(BIN)/funclen -max 80 . tools
	@if [ -d workflows ]; then \
		echo "$(WORKFLOWCHECK) ./workflows/... ./internal/retention/... ./internal/reconcile/..."; $(WORKFLOWCHECK) ./workflows/... ./internal/retention/... ./internal/reconcile/...; \
	else echo "workflowcheck: no workflows/ yet"; fi

# The simulator (tools/loansim) runs in a step of its own, without -race:
# it drives the workflow single-threaded in simulated time, where the race
# detector finds nothing and makes its 300 loans take minutes instead of
# seconds; its own package tests run with -race in `make test-race-sim`.
SIMPKG    ?= ./loansim
SIM_TESTFLAGS ?= -count=1 -timeout 10m

.PHONY: test
test: tools ## Everything, self-contained: the product's and the tools' unit + integration tests with -race, every fuzz corpus entry as a test, then the simulator's 300 loans.
	$(GO) test $(TESTFLAGS) -tags $(TAGS) $(PKGS)
	cd $(TOOLS) && $(GO) test $(TESTFLAGS) -tags $(TAGS) $$($(GO) list -tags $(TAGS) $(TOOLS_PKGS) | grep -v '/tools/loansim$$')
	cd $(TOOLS) && $(GO) test $(SIM_TESTFLAGS) $(SIMPKG)

.PHONY: test-race-sim
test-race-sim: ## The simulator's tests under the race detector (slow: minutes).
	cd $(TOOLS) && $(GO) test -race $(SIM_TESTFLAGS) $(SIMPKG)

.PHONY: lane
lane: temporal-cli ## Just the dev-server lane (issue 10): its own dev server suggesting continue-as-new at 60 events, 8 loans through every waiting stage.
	cd $(TOOLS) && $(GO) test -race -count=1 -timeout 10m -tags $(TAGS) -run '^TestDevServerLane$$' -v ./e2e/

.PHONY: test-unit
test-unit: ## Unit tests only (no dev server, no PostgreSQL).
	$(GO) test -count=1 $(PKGS)
	cd $(TOOLS) && $(GO) test -count=1 $(TOOLS_PKGS)

.PHONY: fuzz-short
fuzz-short: ## Run every fuzz target for FUZZTIME_SHORT.
	@FUZZTIME=$(FUZZTIME_SHORT) GO=$(GO) PKGS="$(PKGS)" .ci/fuzz

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 60s each); findings land in testdata/fuzz.
	@FUZZTIME=$(FUZZTIME) GO=$(GO) PKGS="$(PKGS)" .ci/fuzz

# make bench measures the loan phase on both servers (the dev server and the
# real one) unless BENCH_SERVERS (or STACK=server) names one; the real one
# needs bin/temporal-server.
bench_comma := ,
BENCH_LANE_TOOLS := $(if $(BENCH_SERVERS),$(if $(filter server,$(subst $(bench_comma), ,$(BENCH_SERVERS))),temporal-server),temporal-server)

.PHONY: bench
bench: temporal-cli $(BENCH_LANE_TOOLS) ## Client micro-benchmarks, then the system's figures against baselines, the loan phase on the dev and the real server side by side, and where the real server saturates (tools/bench; BENCH_N=500, BENCH_SERVERS=dev,server …); JSON in .data/bench, a section appended to docs/benchmarks.md.
	@mkdir -p .data/bench
	$(GO) test -run '^$$' -bench . $(BENCHFLAGS) $(BENCHPKGS) | tee .data/bench/client.txt
	@$(MAKE) --no-print-directory bench-system BENCH_CLIENT=$(CURDIR)/.data/bench/client.txt

.PHONY: bench-system
bench-system: temporal-cli $(BENCH_LANE_TOOLS) ## Just the system's figures (make bench without the client micro-benchmarks).
	$(call tool_build,bench)
	BENCH_CLIENT=$(BENCH_CLIENT) $(BIN)/bench

.PHONY: bench-due
bench-due: temporal-cli ## BENCH_DUE_N (2000) loans all due on the same day, under one AWDA rate limit shared by 2 workers: the call rate per class at the sandbox and in the audit against the limit, and the time for all to settle; exit 1 over the limit or if a loan does not settle (tools/cmd/benchdue).
	$(call tool_build,benchdue)
	$(BIN)/benchdue

# make chaos: CHAOS_N applicants through faults, SIGKILLs and restarts drawn
# from CHAOS_SEED (same seed, same schedule); see tools/chaos.
CHAOS_N    ?= 200
CHAOS_SEED ?= 1

.PHONY: chaos
chaos: temporal-cli $(LANE_TOOLS) ## CHAOS_N (200) loans through sandbox faults, worker SIGKILLs, Temporal/PostgreSQL/starter restarts; exit 1 if anything is lost.
	$(call tool_build,chaos)
	CHAOS_N=$(CHAOS_N) CHAOS_SEED=$(CHAOS_SEED) $(BIN)/chaos

# make sim: SIM_SEEDS scenarios of the deterministic simulator from
# SIM_SEED_BASE (same seed, same scenario, same outcome), then SIM_STORMS
# due-date storms of SIM_STORM_LOANS loans each (families from
# SIM_STORM_BASE); see tools/loansim.
SIM_SEEDS       ?= 10000
SIM_SEED_BASE   ?= 1
SIM_STORMS      ?= 10
SIM_STORM_BASE  ?= 1
SIM_STORM_LOANS ?= 200

.PHONY: sim
sim: ## SIM_SEEDS (10000) simulated loans over up to 2 years each through the real workflow, and SIM_STORMS (10) due-date storms of SIM_STORM_LOANS (200); figures, exit 1 on a broken invariant.
	$(call tool_build,loansim)
	$(BIN)/loansim -seeds $(SIM_SEEDS) -base $(SIM_SEED_BASE) -bench -storms $(SIM_STORMS) -storm-base $(SIM_STORM_BASE) -storm-loans $(SIM_STORM_LOANS)

# make replay-gate: the gate of a rollout, run before the new workers take
# traffic (docs/operations.md#replay-histories-before-a-deploy): the worker
# binary of this checkout replays every running LoanApplication of the
# cluster the environment names, with the worker's own settings
# (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS or API key, AWDAFLOW_KEYS);
# exit 1 names the loans the deploy would break. REPLAY_GATE_FLAGS adds
# flags (-max N, -v, -query Q) or history files instead of the cluster.
REPLAY_GATE_FLAGS ?=

.PHONY: replay-gate
replay-gate: ## Replay every running loan of the cluster at TEMPORAL_ADDRESS against this checkout's workflow code (worker replay-gate); exit 1 if a deploy would break one.
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./worker
	$(BIN)/worker replay-gate $(REPLAY_GATE_FLAGS)

# make run: the product's binaries built here, the tools' (the launcher, the
# demo, devkeys) in tools/, then the launcher (tools/cmd/run) supervises the
# stack until Ctrl-C; its settings: docs/configuration.md.
.PHONY: run
run: run-build ## The whole stack (Temporal + UI, PostgreSQL, sandbox, worker, starter) and a live demo of DEMO_N (20) loans; Ctrl-C stops it. STACK=server: on Temporal's own server, 2 workers, 2 starters.
	@BIN=$(BIN) $(BIN)/run

.PHONY: run-build
run-build: temporal-cli $(LANE_TOOLS) $(if $(filter server,$(STACK)),temporal-ui)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./worker ./starter ./awda/sandbox/cmd/awda-sandbox
	cd $(TOOLS) && $(GO) build -o $(BIN)/ ./cmd/run ./cmd/demo ./cmd/devkeys

.PHONY: screenshot
screenshot: run-build ## docs/images/temporal-ui.png from the demo, with headless Chromium (starts the stack unless it runs).
	@BIN=$(BIN) tools/scripts/screenshot.sh

.PHONY: compose-check
compose-check: ## Check docker-compose.yml, the Dockerfile and .env.example against the code (no Docker engine needed).
	$(GO) test -count=1 ./deploy/...

.PHONY: kubernetes-check
kubernetes-check: ## Render deploy/k8s's overlays with kustomize and check them against the code (tools/k8s; also part of make test).
	cd $(TOOLS) && $(GO) test -count=1 ./k8s/

.PHONY: temporal-cli
temporal-cli: ## Install just the pinned Temporal CLI into ./bin (only when missing).
	$(call tool_install,$(TEMPORAL),$(TEMPORAL_CLI_MOD),$(TEMPORAL_CLI_PKG),$(TEMPORAL_CLI_VERSION))

.PHONY: clean
clean: ## Remove ./bin and the test cache.
	rm -rf $(BIN)
	$(GO) clean -testcache
