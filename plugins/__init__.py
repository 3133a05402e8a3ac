"""Connector plugins: the contract (`base`), the registry (entry points) and built-ins."""
