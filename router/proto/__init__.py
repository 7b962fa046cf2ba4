"""The edge's gRPC API: multimodal.proto and its generated code (see generate.sh)."""
