#!/usr/bin/env bash
# Installs the system libraries RegionSpot builds against, and protoc (the protocol tests generate
# Python code with it). Idempotent: does nothing when all are present. Used by both README
# commands and, through Tools/test.sh, by CI.
set -euo pipefail

packages=(libopenblas-dev libzmq3-dev protobuf-compiler libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg-dev pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "error: Swift 6 toolchain not found on PATH" >&2; exit 1; }
