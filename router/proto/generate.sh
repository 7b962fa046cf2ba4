#!/usr/bin/env bash
# Regenerate the gRPC code for router/proto/multimodal.proto (needs grpcio-tools).
# Run from anywhere: ./router/proto/generate.sh [python]   (default: the repo's .venv python)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${1:-$root/.venv/bin/python}"
cd "$root"
"$python" -m grpc_tools.protoc -I . \
  --python_out=. --pyi_out=. --grpc_python_out=. \
  router/proto/multimodal.proto
