# vidseg: make setup, make test, make demo.
ORT_LIB ?= $(CURDIR)/third_party/onnxruntime/lib/libonnxruntime.so.1
export VIDSEG_ORT_LIB := $(ORT_LIB)
export CGO_ENABLED := 1
# pipefail: `go test -json | testreport` fails when go test does.
SHELL := /bin/bash

# staticcheck, pinned and installed by scripts/setup.sh.
STATICCHECK := bin/staticcheck

.PHONY: setup setup-gpu test check build demo videos bench bench-official fuzz fuzz-api vet fixture traces

setup:
	bash scripts/setup.sh

# ONNX Runtime 1.29 with the CUDA provider, for machines with an NVIDIA GPU.
setup-gpu:
	bash scripts/setup-gpu.sh

build:
	go build -o bin/vidseg ./cmd/vidseg

# Every package, with go test's usual output, then where the time went
# (tools/testreport; the raw stream is kept in out/test.json). The timeout
# is a hang guard for a busy 2-core machine, not a speed bound.
test: check
	@mkdir -p out
	set -o pipefail; go test -json -timeout 40m ./... | go run ./tools/testreport -save out/test.json

# Static checks: vet, gofmt, a tidy go.mod, staticcheck and the import
# rules (docs/architecture.md: nothing below the HTTP layer imports web or
# net/http).
check:
	go vet ./...
	go test -count=1 ./internal/layers
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	  test -z "$$unformatted" || { echo "gofmt: not formatted: $$unformatted"; exit 1; }
	go mod tidy -diff
	@test -x $(STATICCHECK) || { echo "$(STATICCHECK) missing: run make setup"; exit 1; }
	$(STATICCHECK) ./...

vet: check

# The main job on a bundled default: track the orange ellipse of a generated
# clip with the bundled random-weight test model (plumbing, not accuracy).
demo: build
	bin/vidseg track testdata/videos/moving_shape/video.mp4 --point 60,70 --out out/demo --overwrite
	@echo "demo: outputs in out/demo (masks/, masks.json, tracks.jsonl, overlay.mp4)"

videos:
	go run ./tools/genvideos -out testdata/videos

# Benchmarks run with the huge-page malloc the vidseg command sets itself
# (docs/runtime.md "Memory").
bench:
	GLIBC_TUNABLES=glibc.malloc.hugetlb=1 go test -run XXX -bench . -benchtime 3x ./decode ./encode ./sam ./stream
	go run ./cmd/vidseg bench --objects 1,2

# Side by side with the official SAM2VideoPredictor (needs the exporter's
# setup and the full-size random export; see README "Benchmarks").
BENCH_OFFICIAL_ARGS ?= --objects 1,4 --frames 12 --threads 2
bench-official:
	/usr/bin/python3 tools/export/bench_official.py $(BENCH_OFFICIAL_ARGS)

fuzz:
	go test -run XXX -fuzz FuzzDecode -fuzztime 60s ./decode

fuzz-api:
	go test -run XXX -fuzz FuzzAPI -fuzztime 60s ./web

# Regenerating the fixture and traces needs torch and the official sources
# (scripts/setup-exporter.sh); CI uses the committed outputs.
fixture:
	bash tools/export/make_fixture.sh

traces:
	bash tools/export/make_traces.sh
