#!/usr/bin/env bash
# Regenerates Sources/PipelineProtocol/*.pb.swift from Protos/. The generated code is committed;
# run this only after changing a .proto file. The protoc plugin is built once from swift-protobuf
# (the version Package.swift names) in .build-protoc, outside the normal build: the first run builds
# it (about 30 s here as a debug build with -j 1; allow minutes on a cold machine), later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

swiftProtobufVersion=1.39.0
scratch=.build-protoc

if ! command -v protoc >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null
fi

plugin="$scratch/swift-protobuf/.build/debug/protoc-gen-swift"
if [ ! -x "$plugin" ]; then
    if [ ! -d "$scratch/swift-protobuf" ]; then
        mkdir -p "$scratch"
        git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$swiftProtobufVersion" https://github.com/apple/swift-protobuf "$scratch/swift-protobuf"
    fi
    swift build -j 1 --package-path "$scratch/swift-protobuf" --product protoc-gen-swift
fi

output=Sources/PipelineProtocol
rm -f "$output"/*.pb.swift
protoc --plugin=protoc-gen-swift="$plugin" --proto_path=Protos \
    --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
    --swift_out="$output" Protos/regionspot/v1/*.proto
echo "Generated: $(ls "$output"/*.pb.swift | tr '\n' ' ')"
