# perfgo: `make demo` shows the main job, `make test` runs every check CI runs.
GO      ?= go
PKGS    := ./...
BIN     := bin/perfgo
# protoc itself comes from the OS (Debian: protobuf-compiler); the Go plugins
# are pinned as go.mod tools, so `make proto` is reproducible and the build
# never needs protoc because the generated code is committed.
PROTOC  ?= protoc

.PHONY: all build test lint vet staticcheck race proto bench goinstall demo html-screenshot clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/perfgo

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

lint: vet staticcheck

race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test: lint race

proto:
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o bin/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(PROTOC) --plugin=protoc-gen-go=bin/protoc-gen-go --plugin=protoc-gen-go-grpc=bin/protoc-gen-go-grpc \
		-I proto --go_out=. --go_opt=module=github.com/perfgo/perfgo \
		--go-grpc_out=. --go-grpc_opt=module=github.com/perfgo/perfgo \
		proto/grpc_service.proto proto/model_config.proto

bench:
	./bench/run.sh

# README's `go install ...@latest` from a clean GOPATH, served from HEAD by a
# file:// module proxy (downloads every dependency: not part of test).
goinstall:
	./bench/goinstall.sh

demo:
	$(GO) run ./cmd/perfgo demo

# A short sweep against perfgo serve, its --html report, and a PNG of that
# page as headless Chromium draws it (bin/html-screenshot/). Installs
# Debian's chromium when missing (root); tests and CI never need it.
html-screenshot:
	GO=$(GO) ./scripts/html-screenshot.sh

clean:
	rm -rf bin
