"""Webhook intake: `POST /api/v1/events/{pid}/{cid}`, signed with the connection's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from core.store import Store


@pytest.fixture
def shop(tenant: Any, csv_feed: Path) -> dict[str, Any]:
    pid = tenant.post("/projects/", {"name": "Shop"}).json["id"]
    source = tenant.post(
        f"/projects/{pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(csv_feed)}},
    ).json
    automatic = tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "sync", "schedule": {"mode": "automatic", "debounce_s": 2}},
    ).json
    return {"pid": pid, "source": source, "job": automatic}


def _signed(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Syncfarm-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def _post(client: Any, shop: dict[str, Any], body: bytes, headers: dict[str, str]) -> Any:
    return client.post(
        f"/api/v1/events/{shop['pid']}/{shop['source']['id']}", data=body, headers=headers
    )


def test_a_connection_shows_its_webhook_url_and_secret_to_its_tenant(
    shop: dict[str, Any],
) -> None:
    source = shop["source"]
    assert source["webhook_url"] == (f"http://localhost/api/v1/events/{shop['pid']}/{source['id']}")
    assert len(source["webhook_secret"]) >= 32


def test_a_signed_event_needs_no_api_key_and_fires_the_automatic_jobs(
    client: Any, tenant: Any, shop: dict[str, Any], store: Store
) -> None:
    body = json.dumps({"order": "1001", "items": [{"sku": "A-1", "qty": 2}]}).encode()
    answer = _post(client, shop, body, _signed(shop["source"]["webhook_secret"], body))
    assert answer.status_code == 202, answer.json
    assert answer.json["jobs"] == [shop["job"]["id"]]
    job = tenant.get(f"/projects/{shop['pid']}/jobs/{shop['job']['id']}").json
    assert job["batch_count"] == 1 and job["next_fire_at"] is not None  # in debounce_s
    event = store.events.find_one({"_id": answer.json["event_id"]}) or {}
    assert event["body"] == {"order": "1001", "items": [{"sku": "A-1", "qty": 2}]}
    assert event["project_id"] == shop["pid"]
    assert event["connection_id"] == shop["source"]["id"]


def test_an_event_without_or_with_a_wrong_signature_is_refused_and_not_stored(
    client: Any, shop: dict[str, Any], store: Store
) -> None:
    body = b'{"order": "1001"}'
    secret = shop["source"]["webhook_secret"]
    unsigned = _post(client, shop, body, {"Content-Type": "application/json"})
    forged = _post(client, shop, body, _signed("not-the-secret", body))
    tampered = _post(client, shop, b'{"order": "1002"}', _signed(secret, body))
    garbage = _post(client, shop, body, {"X-Syncfarm-Signature": "sha256=zz\u00e9"})
    for answer in (unsigned, forged, tampered, garbage):
        assert answer.status_code == 401, answer.json
        assert "X-Syncfarm-Signature" in answer.json["message"]
    assert store.events.count_documents({}) == 0
    job = store.jobs.find_one({"_id": shop["job"]["id"]}) or {}
    assert job.get("batch_count", 0) == 0 and job["next_fire_at"] is None


def test_unknown_ids_and_another_tenants_connection_answer_404_alike(
    client: Any, shop: dict[str, Any], make_tenant: Any, csv_feed: Path
) -> None:
    other = make_tenant("rival")
    other_pid = other.post("/projects/", {"name": "Other"}).json["id"]
    other_source = other.post(
        f"/projects/{other_pid}/connections/",
        {"connector": "feed", "role": "source", "settings": {"url": str(csv_feed)}},
    ).json
    body = b"{}"
    secret = shop["source"]["webhook_secret"]
    paths = [
        f"{shop['pid']}/con_unknown",
        f"prj_unknown/{shop['source']['id']}",
        f"{shop['pid']}/{other_source['id']}",  # another project's connection, its own secret
        f"{other_pid}/{shop['source']['id']}",
    ]
    for path in paths:
        signed_right = _signed(other_source["webhook_secret"], body)
        for headers in (_signed(secret, body), signed_right):
            answer = client.post(f"/api/v1/events/{path}", data=body, headers=headers)
            assert answer.status_code == 404, (path, answer.json)
            assert answer.json["message"].startswith("no project ")


def test_a_body_over_1_mib_is_refused_with_413(
    client: Any, shop: dict[str, Any], store: Store
) -> None:
    body = b"x" * (1024 * 1024 + 1)
    answer = _post(client, shop, body, _signed(shop["source"]["webhook_secret"], body))
    assert answer.status_code == 413
    assert "1 MiB" in answer.json["message"]
    assert store.events.count_documents({}) == 0


def test_a_body_that_is_not_json_is_accepted_and_kept_as_text(
    client: Any, shop: dict[str, Any], store: Store
) -> None:
    body = "order=1001&status=paid\u00e9".encode()
    headers = {
        **_signed(shop["source"]["webhook_secret"], body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = _post(client, shop, body, headers)
    assert answer.status_code == 202, answer.json
    event = store.events.find_one({"_id": answer.json["event_id"]}) or {}
    assert event["body"] == "order=1001&status=paid\u00e9"
    assert event["body_format"] == "text"


def test_json_that_a_database_cannot_hold_as_is_is_kept_as_text(
    client: Any, shop: dict[str, Any], store: Store
) -> None:
    body = b'{"$where": 1, "big": 123456789012345678901234567890}'
    answer = _post(client, shop, body, _signed(shop["source"]["webhook_secret"], body))
    assert answer.status_code == 202, answer.json
    event = store.events.find_one({"_id": answer.json["event_id"]}) or {}
    assert event["body"] == body.decode() and event["body_format"] == "text"


def test_an_event_does_not_fire_jobs_that_are_not_automatic(
    client: Any, tenant: Any, shop: dict[str, Any], store: Store
) -> None:
    pid = shop["pid"]
    tenant.patch(f"/projects/{pid}/jobs/{shop['job']['id']}", {"enabled": False})
    tenant.post(f"/projects/{pid}/jobs/", {"kind": "fetch", "schedule": {"mode": "manual"}})
    tenant.post(
        f"/projects/{pid}/jobs/",
        {"kind": "fetch", "schedule": {"mode": "daily", "times": ["06:00"]}},
    )
    body = b"{}"
    answer = _post(client, shop, body, _signed(shop["source"]["webhook_secret"], body))
    assert answer.status_code == 202 and answer.json["jobs"] == []
    assert store.runs.count_documents({}) == 0
    assert not any(job.get("batch_count") for job in store.jobs.find())


def test_a_connection_made_before_webhooks_gets_a_secret_when_first_shown(
    client: Any, tenant: Any, shop: dict[str, Any], store: Store
) -> None:
    cid = shop["source"]["id"]
    store.connections.update_one({"_id": cid}, {"$unset": {"webhook_secret": ""}})
    body = b"{}"
    before = _post(client, shop, body, _signed("", body))
    assert before.status_code == 401  # nobody can have signed with a secret not yet made
    secret = tenant.get(f"/projects/{shop['pid']}/connections/{cid}").json["webhook_secret"]
    listed = tenant.get(f"/projects/{shop['pid']}/connections/").json
    assert secret and listed[0]["webhook_secret"] == secret  # made once, then kept
    after = _post(client, shop, body, _signed(secret, body))
    assert after.status_code == 202, after.json


def test_the_openapi_document_describes_the_webhook_without_bearer_auth(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    post = spec["paths"]["/api/v1/events/{project_id}/{connection_id}"]["post"]
    assert post["security"] == []
    assert "202" in post["responses"]
    assert any(p["name"] == "X-Syncfarm-Signature" for p in post["parameters"])
