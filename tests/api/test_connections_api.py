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


def test_connector_secrets_are_stored_encrypted_shown_masked_and_kept_when_sent_back(
    tenant: Any, store: Any
) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    created = tenant.post(
        f"/projects/{pid}/connections/",
        {
            "connector": "feed",
            "role": "source",
            "settings": {
                "url": "https://feeds.example.com/p.csv",
                "auth": {"type": "basic", "username": "shop", "password": "hunter22"},
            },
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["settings"]["auth"] == {
        "type": "basic",
        "username": "shop",
        "password": "********",
    }
    stored = store.connections.find_one({"_id": created.json["id"]})
    assert stored["settings"]["auth"]["password"].startswith("enc:v1:")
    assert "hunter22" not in str(stored)

    shown = created.json["settings"]
    tenant.patch(
        f"/projects/{pid}/connections/{created.json['id']}",
        {"settings": {**shown, "url": "https://feeds.example.com/q.csv"}},
    )
    from core.connections import readable_settings

    again = store.connections.find_one({"_id": created.json["id"]})
    assert readable_settings(again)["auth"]["password"] == "hunter22"
    assert readable_settings(again)["url"].endswith("q.csv")


def test_without_a_secret_key_a_secret_is_refused_not_stored_in_clear(
    tenant: Any, monkeypatch: Any
) -> None:
    monkeypatch.delenv("SYNCFARM_SECRET_KEY")
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    refused = tenant.post(
        f"/projects/{pid}/connections/",
        {
            "connector": "feed",
            "role": "source",
            "settings": {
                "url": "https://x.example/p.csv",
                "auth": {"type": "bearer", "token": "t0k3n"},
            },
        },
    )
    assert refused.status_code == 422
    assert "SYNCFARM_SECRET_KEY" in refused.json["message"]


def test_after_the_secret_key_changed_a_masked_secret_must_be_sent_again_not_a_500(
    tenant: Any, monkeypatch: Any
) -> None:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    created = tenant.post(
        f"/projects/{pid}/connections/",
        {
            "connector": "feed",
            "role": "source",
            "settings": {
                "url": "https://x.example/p.csv",
                "auth": {"type": "bearer", "token": "t0k3n"},
            },
        },
    ).json
    monkeypatch.setenv("SYNCFARM_SECRET_KEY", "another-key-of-the-farm-2")
    masked = tenant.patch(
        f"/projects/{pid}/connections/{created['id']}", {"settings": created["settings"]}
    )
    assert masked.status_code == 409 and "send the secret again" in masked.json["message"]
    fresh = {**created["settings"], "auth": {"type": "bearer", "token": "new-t0k3n"}}
    assert (
        tenant.patch(
            f"/projects/{pid}/connections/{created['id']}", {"settings": fresh}
        ).status_code
        == 200
    )


def test_deleting_a_connection_removes_its_files_from_the_data_folder(
    tenant: Any, settings: Any
) -> None:
    from core.pipeline.rawindex import index_path, raw_index_dir
    from plugins.file import export_path, rows_path

    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    cid = tenant.post(f"/projects/{pid}/connections/", {"connector": "file", "role": "channel"})
    cid = cid.json["id"]
    export = export_path(settings.data_dir, pid, cid)
    kept = [export, rows_path(export), index_path(raw_index_dir(settings.data_dir, pid), cid)]
    other = export.with_name("con_other.csv")
    for path in [*kept, other]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert tenant.delete(f"/projects/{pid}/connections/{cid}").status_code == 204
    assert [path.exists() for path in kept] == [False, False, False]
    assert other.exists()
