# fjord — provisions hardened Docker hosts as KVM guests.
SHELL := /bin/bash
GO ?= go
BIN := bin/fjord
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build test unit integration e2e bench lint fmt demo demo-destroy clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build bin/fjord
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/fjord

test: lint unit ## Run every test tier, fastest first

unit: ## Unit tests (no libvirt needed)
	$(GO) test -count=1 ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

clean: ## Remove build output
	rm -rf bin
