#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs RegionSpot on the
# embedded default. Until the demo model bundle lands, that is the environment check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/install-deps.sh
swift build -c release --product regionspot
.build/release/regionspot doctor
