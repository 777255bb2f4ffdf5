# abra — the front door. `make help` lists the targets.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X coopcloud.tech/abra/internal/cli.Version=$(VERSION)

.PHONY: help build demo test unit e2e lint fuzz bench catalogue clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## build bin/abra
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/abra ./cmd/abra

demo: ## install/start Docker + swarm, build the demo image, deploy the demo app with abra
	./scripts/demo.sh

test: ## the whole suite: lint, unit tests, end-to-end tests on a real dockerd (installs what it needs)
	./scripts/test.sh

unit: ## unit tests only (no Docker needed)
	go test ./internal/... ./cmd/...

e2e: ## end-to-end tests only (needs Docker; see scripts/docker-up.sh)
	./scripts/docker-up.sh && ABRA_E2E=1 go test -count=1 -timeout 30m ./e2e/...

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'run gofmt -w'; exit 1; }
	go vet ./...

fuzz: ## run each fuzz target for a while (FUZZTIME=60s)
	./scripts/fuzz.sh

catalogue: build ## render the project's own recipes/ as a catalogue: public/recipes.json and public/index.html
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && mkdir -p public && \
	ABRA_DIR=$$tmp ./bin/abra -o catalogue generate --from-dir recipes --html public/index.html && \
	cp $$tmp/catalogue/recipes.json public/recipes.json && echo "catalogue: public/index.html, public/recipes.json" >&2

clean: ## remove build output
	rm -rf bin public
