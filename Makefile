# vidseg: make setup, make test, make demo.
ORT_LIB ?= $(CURDIR)/third_party/onnxruntime/lib/libonnxruntime.so.1
export VIDSEG_ORT_LIB := $(ORT_LIB)
export CGO_ENABLED := 1
# pipefail: `go test -json | testreport` fails when go test does.
SHELL := /bin/bash

# staticcheck, pinned and installed by scripts/setup.sh.
STATICCHECK := bin/staticcheck

.PHONY: setup setup-gpu test test-exporter check build install uninstall demo videos bench bench-official bench-edgetam fuzz fuzz-api vet fixture traces edgetam-traces parity

setup:
	bash scripts/setup.sh

# ONNX Runtime 1.29 with the CUDA provider, for machines with an NVIDIA GPU.
setup-gpu:
	bash scripts/setup-gpu.sh

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/vidseg ./cmd/vidseg

# Install for the current user (docs/cli.md "Install"): the binary in
# $(PREFIX)/bin, ONNX Runtime in $(PREFIX)/lib/vidseg and, with MODEL=DIR,
# that model in $(PREFIX)/share/vidseg/models; vidseg looks in all three, so
# `vidseg track clip.mp4 ...` works from any folder. ORT_DIR=third_party/
# onnxruntime-gpu/lib installs the GPU build (make setup-gpu) instead.
PREFIX ?= $(HOME)/.local
ORT_DIR ?= $(CURDIR)/third_party/onnxruntime/lib
MODEL ?=
install:
	@test -f "$(ORT_DIR)/libonnxruntime.so.1" || { echo "install: no ONNX Runtime in $(ORT_DIR): run make setup first (or pass ORT_DIR=DIR)"; exit 1; }
	@test -z "$(MODEL)" || test -f "$(MODEL)/manifest.json" || { echo "install: MODEL=$(MODEL) has no manifest.json: not a model package"; exit 1; }
	install -d "$(PREFIX)/bin" "$(PREFIX)/lib/vidseg"
	go build -ldflags "-X main.version=$(VERSION)" -o "$(PREFIX)/bin/vidseg" ./cmd/vidseg
	cp -a "$(ORT_DIR)"/libonnxruntime*.so* "$(PREFIX)/lib/vidseg/"
	@if [ -n "$(MODEL)" ]; then \
	  install -d "$(PREFIX)/share/vidseg/models" && \
	  rm -rf "$(PREFIX)/share/vidseg/models/$(notdir $(abspath $(MODEL)))" && \
	  cp -rL "$(MODEL)" "$(PREFIX)/share/vidseg/models/$(notdir $(abspath $(MODEL)))" && \
	  echo "installed model $(notdir $(abspath $(MODEL))) in $(PREFIX)/share/vidseg/models"; \
	fi
	@echo "installed $(PREFIX)/bin/vidseg (ONNX Runtime in $(PREFIX)/lib/vidseg); run vidseg doctor"
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "note: $(PREFIX)/bin is not on PATH";; esac

uninstall:
	rm -f "$(PREFIX)/bin/vidseg"
	rm -rf "$(PREFIX)/lib/vidseg"
	@echo "left $(PREFIX)/share/vidseg (models, sessions) in place"

# The trace-parity tests (tracker) are the longest package: started first,
# the others run beside them on the second core.
TEST_FIRST := ./tracker ./cmd/vidseg
# Every package, with go test's usual output, then where the time went
# (tools/testreport; the raw stream is kept in out/test.json). The timeout
# is a hang guard for a busy 2-core machine, not a speed bound (75 min: the
# trace parity took 39 min at load average 25; CI stops at 90 min anyway); -count=1:
# every run runs every test (no cached results).
test: check test-exporter
	@mkdir -p out
	set -o pipefail; go test -json -count=1 -timeout 75m $(TEST_FIRST) ./... | go run ./tools/testreport -save out/test.json

# The exporter's progress printer and int8 gate need no torch: their tests run wherever
# python3 is.
# test_fold needs numpy and onnx (python3-onnx, from make setup): the first
# python3 that has them runs the tests (a pyenv python3 on PATH may not).
EXPORT_PYTHON ?= $(shell for p in python3 /usr/bin/python3; do $$p -c 'import numpy, onnx' >/dev/null 2>&1 && { command -v $$p; exit; }; done; command -v python3)
test-exporter:
	@if [ -n "$(EXPORT_PYTHON)" ]; then cd tools/export && $(EXPORT_PYTHON) -m unittest -q test_progress test_int8_gate test_graph_forms test_fold; \
	  else echo "test-exporter: no python3: skipped"; fi

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

# Side by side: a candidate package against a baseline, alternating `vidseg
# bench` runs (tools/benchpair), e.g. issue 26's EdgeTAM against the SAM 2.1-tiny
# default; export both full-size packages first (README "Benchmarks").
BENCH_PAIR_ARGS ?= --baseline third_party/models/sam2.1_hiera_t_random_full \
	--model third_party/models/edgetam_random_full --candidate '' --candidate '--attention bf16' --rounds 2
bench-edgetam:
	go run ./tools/benchpair $(BENCH_PAIR_ARGS)

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

# The EdgeTAM fixture and its traces (official EdgeTAM predictor; ../ext/EdgeTAM, ../ext/timm).
edgetam-traces:
	bash tools/export/make_edgetam_traces.sh

# Fidelity of one variant and precision against the official predictor
# (docs/fidelity.md): make parity VARIANT=sam2.1_hiera_s PRECISION=int8 SIZE=256
parity:
	VARIANT="$(VARIANT)" MODE="$(MODE)" PRECISION="$(PRECISION)" SIZE="$(SIZE)" FRAMES="$(FRAMES)" SEED="$(SEED)" VIDEO="$(VIDEO)" \
	  bash tools/export/parity.sh
