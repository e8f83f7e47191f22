"""gRPC adapters: thin translations between protobuf and the services."""
