#!/usr/bin/env bash
# The README's test command: installs what is missing, builds in release mode, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/install-deps.sh
bash Tools/install-python-client-deps.sh  # the protocol's Python interoperability test runs in it
swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build
