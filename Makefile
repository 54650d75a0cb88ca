# vidseg: make setup, make test, make demo.
ORT_LIB ?= $(CURDIR)/third_party/onnxruntime/lib/libonnxruntime.so.1
export VIDSEG_ORT_LIB := $(ORT_LIB)
export CGO_ENABLED := 1

.PHONY: setup test build demo videos bench vet fmt

setup:
	bash scripts/setup.sh

build:
	go build -o bin/vidseg ./cmd/vidseg

test:
	go vet ./...
	go test -timeout 25m ./...

vet:
	go vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
