from __future__ import annotations

from pathlib import Path
from typing import Any


def test_a_feed_source_and_a_file_channel_are_configured(tenant: Any, csv_feed: Path) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    source = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(csv_feed)}},
    )
    assert source.status_code == 201, source.json
    assert source.json["settings"]["key"] == "sku"
    channel = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "file", "role": "channel", "settings": {"filename": "products.csv"}},
    )
    assert channel.status_code == 201
    url = channel.json["export_url"]
    assert url.startswith("http://localhost/exports/") and url.endswith("/products.csv")
    listed = tenant.get(f"/projects/{pid}/connections/").json
    assert {c["connector"] for c in listed} == {"feed", "file"}


def test_an_unknown_connector_is_named_in_the_error(tenant: Any) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    refused = tenant.post(
        f"/projects/{pid}/connections/", {"connector": "telepathy", "role": "source"}
    )
    assert refused.status_code == 422
    assert "telepathy" in refused.json["message"] and "feed" in refused.json["message"]


def test_connector_settings_are_validated_by_the_connectors_schema(tenant: Any) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    no_url = tenant.post(
        f"/projects/{pid}/connections/", {"connector": "feed", "role": "source", "settings": {}}
    )
    assert no_url.status_code == 422 and "settings.url" in no_url.json["message"]
    bad_url = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": "gopher://x"}},
    )
    assert bad_url.status_code == 422 and "http" in bad_url.json["message"]
    wrong_role = tenant.post(
        f"/projects/{pid}/connections/", {"connector": "file", "role": "source"}
    )
    assert wrong_role.status_code == 422 and "cannot be a source" in wrong_role.json["message"]
