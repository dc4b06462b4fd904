"""The platform control plane: service, HTTP API, store and client."""
