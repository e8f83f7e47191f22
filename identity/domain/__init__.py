"""Pure rules of the identity service: no I/O, no gRPC, no SQL."""
