# fjord — provisions hardened Docker hosts as KVM guests.
SHELL := /bin/bash
GO ?= go
BIN := bin/fjord
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build test unit race e2e bench lint fmt demo demo-destroy clean

help: ## Show this help
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build bin/fjord, with its static canary probe and fjord-authz plugin embedded
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o canary/probe.bin ./cmd/fjord-probe
	CGO_ENABLED=0 $(GO) build -tags seccomp -trimpath -ldflags "-s -w" -o authz/plugin/fjord-authz.bin ./cmd/fjord-authz
	$(GO) build -tags helpers -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/fjord

test: lint unit race e2e ## Run every test tier, fastest first (as root: e2e boots guests)

# seccomp: moby's profile package holds Docker's default seccomp profile only
# under this tag (dockerd is built with it); fjord-authz compares profiles with it.
TAGS := seccomp

unit: ## Unit tests, fuzz seed corpora and the libvirt adapter against libvirt's test:///default driver
	$(GO) test -tags $(TAGS) -count=1 ./...

race: ## Unit tests again under the race detector
	$(GO) test -tags $(TAGS) -race -count=1 ./...

e2e: ## End-to-end: real libvirtd and QEMU guests in a network namespace (root)
	$(GO) test -tags e2e -count=1 -v -timeout 60m ./e2e

bench: ## Benchmarks against virt-install, plan at scale, overlays (root, ~30 min); writes BENCHMARKS.md
	bash scripts/bench.sh

demo: ## Provision the shipped example and verify it (root)
	bash scripts/demo.sh

demo-destroy: ## Remove everything the demo created
	bash scripts/demo.sh destroy

lint: ## gofmt, go vet, and no build output tracked in git
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@bin=$$(for f in $$(git ls-files); do [ -f "$$f" ] && [ "$$(head -c 4 "$$f" | od -An -c | tr -d ' ')" = '177ELF' ] && echo "$$f"; done; true); \
	if [ -n "$$bin" ]; then echo "executables tracked in git (build output belongs in .gitignore):"; echo "$$bin"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...
	$(GO) vet -tags e2e ./e2e

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

clean: ## Remove build output
	rm -rf bin
