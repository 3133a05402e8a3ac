"""The web process: REST API (`/api/v1`), OpenAPI + Swagger UI, export files, landing page."""
