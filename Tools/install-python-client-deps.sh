#!/usr/bin/env bash
# Creates .venv-client (git-ignored) with what a Python client of the daemon needs: pyzmq and the
# protobuf runtime for code that Debian's protoc 3.21.12 generates. That code needs protobuf 3.20
# or later (it imports google.protobuf.internal.builder); 3.20.3, 4.21.12, 4.25.9, 5.29.6, 6.33.6
# and 7.36.2 were checked with Tools/check_python_client.py, and 4.21.12 (protoc 3.21.12's own
# release, an abi3 wheel) is the one pinned. Idempotent: does nothing when both are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=(protobuf==4.21.12 pyzmq==27.3.0)
venv=.venv-client

if [ -x "$venv/bin/python" ] && "$venv/bin/python" - "${requirements[@]}" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    sys.exit(0 if all(version(name) == wanted for name, wanted in (r.split("==") for r in sys.argv[1:])) else 1)
except PackageNotFoundError:
    sys.exit(1)
PY
then
    exit 0
fi
echo "Installing into $venv: ${requirements[*]}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
