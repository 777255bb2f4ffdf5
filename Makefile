# abra — the front door. `make help` lists the targets.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
DATE := $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
CLI := coopcloud.tech/abra/internal/cli
LDFLAGS := -s -w -X $(CLI).Version=$(VERSION) -X $(CLI).Commit=$(COMMIT) -X $(CLI).Date=$(DATE)
# make snapshot / make release: where images go (REGISTRY=registry.example.org/abra),
# and where the archives are written (DIST, a release location for abra upgrade).
REGISTRY ?=
DIST ?= dist
RELEASE_URL ?=

.PHONY: help build demo test unit e2e lint fuzz bench catalogue snapshot release clean

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
	./scripts/docker-up.sh && ABRA_E2E=1 go test -count=1 -timeout 55m ./e2e/...

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'run gofmt -w'; exit 1; }
	go vet ./...

fuzz: ## run each fuzz target for a while (FUZZTIME=60s)
	./scripts/fuzz.sh

catalogue: build ## render the project's own recipes/ as a catalogue: public/recipes.json and public/index.html
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && mkdir -p public && \
	ABRA_DIR=$$tmp ./bin/abra -o catalogue generate --from-dir recipes --html public/index.html && \
	cp $$tmp/catalogue/recipes.json public/recipes.json && echo "catalogue: public/index.html, public/recipes.json" >&2

snapshot: ## build every archive, .deb and image of this commit into $(DIST)/ (push images when REGISTRY is set)
	go run ./cmd/dist snapshot --out '$(DIST)' --registry '$(REGISTRY)'

release: ## make release VERSION=0.1.0 REGISTRY=…: the same, for the tag v$(VERSION) at HEAD; pushes the images
	@[ -n "$(REGISTRY)" ] || { echo 'make release needs REGISTRY=registry.example.org/abra' >&2; exit 2; }
	go run ./cmd/dist release --version '$(VERSION)' --registry '$(REGISTRY)' --out '$(DIST)' --release-url '$(RELEASE_URL)'

clean: ## remove build output
	rm -rf bin public dist
