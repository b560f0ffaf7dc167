#!/bin/sh
# Writes a contact sheet of testbed samples (4 rows clean, 4 rows the same samples degraded as a small model would
# draw them) and their captions with what the detectors read, for eyeballing: OUT/testbed-samples.{png,txt}.
# Usage: tools/testbed-samples.sh [OUT]   (default: .build/testbed-samples)
set -eu
out="${1:-.build/testbed-samples}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
swift build -c release -Xswiftc -enable-testing --build-tests
TESTBED_SAMPLES_DIR="$out" swift test -c release -Xswiftc -enable-testing --skip-build \
    --filter TestbedSampleSheetTests
echo "wrote $out/testbed-samples.png and $out/testbed-samples.txt"
