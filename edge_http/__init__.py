"""The HTTP edge browsers talk to: cookies, CSRF, CORS and JSON in front of identity gRPC."""
