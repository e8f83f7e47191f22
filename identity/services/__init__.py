"""Async use cases: they orchestrate the domain and the stores; no gRPC, no SQL."""
