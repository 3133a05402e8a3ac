"""JSON_LISTINGS_FEED documents, checked against Amazon's own schema before they leave.

`listings-feed-schema-v2.json` is Amazon's schema, unchanged (amzn/selling-partner-api-models,
`schemas/feeds/listings-feed-schema-v2.json`, Apache-2.0). A message the schema refuses is
taken out with the reason, so one odd record fails alone and the rest of the feed goes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from plugins.amazon.errors import AmazonError

SCHEMA = Path(__file__).with_name("listings-feed-schema-v2.json")
CONTENT_TYPE = "application/json; charset=UTF-8"


@cache
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def header(seller_id: str, issue_locale: str) -> dict[str, Any]:
    return {"sellerId": seller_id, "version": "2.0", "issueLocale": issue_locale}


def document(head: dict[str, Any], messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The document of `messages`, numbered 1, 2, … in their order."""
    return {
        "header": head,
        "messages": [{"messageId": n, **m} for n, m in enumerate(messages, start=1)],
    }


def refused_messages(doc: dict[str, Any]) -> dict[int, str]:
    """Index → why the schema refuses that message; raises `AmazonError` when the document
    itself (its header) is refused, which no record can cause."""
    refused: dict[int, str] = {}
    for error in validator().iter_errors(doc):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] == "messages" and isinstance(path[1], int):
            refused.setdefault(path[1], explain(error))
        else:
            raise AmazonError(
                f"the feed document does not match Amazon's schema ({explain(error)}); "
                "check seller_id and language settings"
            )
    return refused


def check(doc: dict[str, Any]) -> None:
    """Raise `AmazonError` unless the whole document validates (the last gate before
    upload)."""
    error = best_match(validator().iter_errors(doc))
    if error is not None:
        raise AmazonError(f"the feed document does not match Amazon's schema: {explain(error)}")


def explain(error: ValidationError) -> str:
    """The schema's complaint about a message, said of the part it is about. A message fits
    one of four shapes (`oneOf`), one per operation: the complaint is the one about the
    shape of its own operation."""
    message = error.instance if isinstance(error.instance, dict) else {}
    operation = message.get("operationType")
    if error.validator == "oneOf" and error.context and isinstance(error.schema, dict):
        shapes = error.schema.get("oneOf", [])
        own = [n for n, shape in enumerate(shapes) if _operation_of(shape) == operation]
        inner = [e for e in error.context if e.relative_schema_path[0] in own]
        if inner:
            chosen = best_match(inner) or error
            if chosen.validator is None:  # a `false` schema: a property this shape forbids
                forbidden = [
                    name
                    for name, allowed in shapes[own[0]].get("properties", {}).items()
                    if allowed is False and name in message
                ]
                return f"{', '.join(forbidden)} not allowed in a {operation} message"
            error = chosen
    path = [str(p) for p in error.absolute_path]
    where = "/".join(path[2:]) if path[:1] == ["messages"] else "/".join(path)
    return f"{where or 'the message'}: {error.message}"


def _operation_of(shape: Any) -> Any:
    return shape.get("properties", {}).get("operationType", {}).get("const")


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
