"""The farm's queues, for operators: per Dramatiq queue its depth and dead letters (requeue,
delete), the processes' heartbeats, the project locks with the runs waiting on them, and the
leading ticker."""

from __future__ import annotations

from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker
from flask import current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from api import services
from api.dashboard import blp, scope
from api.dashboard.session import error_page
from core import deadletters, queues
from core.heartbeats import heartbeats
from worker.broker import RUNS_QUEUE

DEAD_LETTERS_SHOWN = 50


def _broker_redis() -> tuple[redis.Redis, str] | None:
    """The broker's Redis client and namespace; None for a broker that is not Redis."""
    broker = services.broker()
    if isinstance(broker, RedisBroker):
        return broker.client, broker.namespace
    return None


def _mutex_redis() -> redis.Redis | None:
    client: redis.Redis | None = current_app.extensions.get("syncfarm.redis")
    return client


def _operators_only() -> tuple[str, int] | None:
    if scope.is_operator():
        return None
    return error_page(
        403,
        "Operators only",
        "The queues hold every tenant's work; log in with an admin key "
        "(`syncfarm tenant create NAME --admin`) to see them.",
    )


@blp.route("/queues")
def queues_page() -> Any:
    refused = _operators_only()
    if refused:
        return refused
    broker = _broker_redis()
    mutex = _mutex_redis()
    context: dict[str, Any] = {
        "broker_kind": services.settings().broker_url.split(":", 1)[0],
        "depths": None,
        "dead": {},
        "beats": None,
        "locks": None,
        "leader": None,
        "problems": [],
    }
    if broker is not None:
        client, namespace = broker
        try:
            depths = queues.queue_depths(client, [RUNS_QUEUE], namespace=namespace)
            context["depths"] = depths
            context["dead"] = {
                d.queue: deadletters.dead_letters(
                    client, d.queue, namespace=namespace, limit=DEAD_LETTERS_SHOWN
                )
                for d in depths
                if d.dead_lettered
            }
            context["beats"] = heartbeats(
                client,
                namespace=namespace,
                timeout_s=services.settings().worker_heartbeat_timeout_s,
            )
        except redis.RedisError as exc:
            context["problems"].append(f"the broker's Redis could not be read: {exc}")
    if mutex is not None:
        try:
            context["locks"] = queues.project_locks(mutex)
            context["leader"] = queues.ticker_leader(mutex)
        except redis.RedisError as exc:
            context["problems"].append(f"Redis (locks, ticker) could not be read: {exc}")
    return render_template("queues.html", **context)


def _dead_letter_action(queue: str, message_id: str, action: str) -> Response | tuple[str, int]:
    refused = _operators_only()
    if refused:
        return refused
    broker = _broker_redis()
    if broker is None:
        return error_page(422, "Not available", "Dead letters are shown for a Redis broker only.")
    client, namespace = broker
    try:
        if action == "requeue":
            done = deadletters.requeue(client, queue, message_id, namespace=namespace)
        else:
            done = deadletters.delete(client, queue, message_id, namespace=namespace)
    except redis.RedisError as exc:
        return error_page(503, "Unavailable", f"The broker's Redis could not be reached: {exc}")
    if done:
        verb = "sent back to" if action == "requeue" else "deleted from"
        flash(f"Message {message_id} {verb} queue {queue}.")
    else:
        flash(f"Message {message_id} is no longer among the dead letters of queue {queue}.")
    return redirect(url_for("dashboard.queues_page") + f"#queue-{queue}")


@blp.route("/queues/<queue>/dead/<message_id>/requeue", methods=["POST"])
def requeue_dead_letter(queue: str, message_id: str) -> Any:
    return _dead_letter_action(queue, message_id, "requeue")


@blp.route("/queues/<queue>/dead/<message_id>/delete", methods=["POST"])
def delete_dead_letter(queue: str, message_id: str) -> Any:
    return _dead_letter_action(queue, message_id, "delete")
