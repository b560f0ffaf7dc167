# The README's two commands are `make demo` and `make test`; everything else here serves them.
# Debian/Ubuntu packages the build links against (and tmux, which drives the TUI tests).
APT_PACKAGES := libopenblas-dev libncursesw5-dev libyaml-dev libpng-dev libchafa-dev libglib2.0-dev \
                zlib1g-dev libssl-dev libdnnl-dev pkg-config tmux
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# One set of build flags for the product and the tests, so `make demo` and `make test` share one build.
# Tests run optimised: the engine's kernels are 10–50× slower unoptimised, and `-enable-testing` keeps
# `@testable import` working in a release build.
SWIFT_FLAGS := -c release -Xswiftc -enable-testing

.PHONY: setup build demo test bench

# Installs only what is missing, so a second run costs nothing and needs no network.
setup:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: setup
	swift build $(SWIFT_FLAGS) --product spm-workbench

demo: build
	./demo.sh "$$(swift build $(SWIFT_FLAGS) --show-bin-path)/spm-workbench"

test: setup
	swift build $(SWIFT_FLAGS) --build-tests
	swift test $(SWIFT_FLAGS) --skip-build

bench: setup
	./benchmarks/gemm-conv.sh
