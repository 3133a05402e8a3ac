"""The per-project mutex: runs of one project never overlap, runs of different projects do."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import redis
from dramatiq import Broker, Message, Middleware, Worker
from dramatiq.broker import MessageProxy
from dramatiq.logging import get_logger
from dramatiq.middleware import MiddlewareError, SkipMessage

from core.errors import SyncfarmError

#: The one script behind every mutex operation; its header documents the key layout.
_SCRIPT = Path(__file__).with_name("project_mutex.lua").read_text()

#: A worker whose consumers poll less often than this delays hand-offs noticeably.
_SLOW_POLL_MS = 200


class ProjectMutexUnavailable(SyncfarmError, MiddlewareError):
    """Redis could not be asked for a project's lease, so the message fails and is retried.

    It is a Dramatiq MiddlewareError because `Broker.emit_before` logs and swallows any other
    exception, which would run the message without the lease.
    """


class LeaseHolder(TypedDict):
    token: str
    fence: int | None
    ttl_ms: int


@dataclass(frozen=True)
class Lease:
    """A project's lease as its holder knows it: `fence` is its fencing token, higher than
    that of every earlier lease of the project; `token` is the lease's value in Redis."""

    project_id: str
    fence: int
    token: str


_current = threading.local()


def current_lease() -> Lease | None:
    """The lease the message running in this worker thread holds (None outside the mutex)."""
    return cast("Lease | None", getattr(_current, "lease", None))


class ProjectMutex(Middleware):
    """Middleware that lets one message at a time run per project.

    A message takes part when its ``project_id`` option is set; others pass untouched.  Before
    it runs, the message takes the project's lease in Redis.  When another run holds the
    lease, the message is stored in the project's line (first come, first served; once per
    message id), ``on_wait`` is called and the message is skipped, that is acked without
    spending a retry.  The releaser re-enqueues the head of the line the moment its run ends;
    the head leaves the line only when it takes the lease, so a crash in between loses
    nothing.  A background thread renews the leases this process holds and re-enqueues the
    head of any line whose holder died (its lease expired).  Duplicate deliveries are rare
    but possible, so the actor must be idempotent.

    Every lease carries a fencing token (see ``project_mutex.lua``), which the running actor
    reads with ``current_lease()``: a holder that stalled past its lease (another run took
    the project since) carries a lower token than the new holder, so the store can refuse
    its late writes.

    Parameters:
      client(redis.Redis): The Redis client holding leases and lines.
      lease_ttl_s(float): How long a lease outlives a holder that stops renewing it (one
        that was killed).  Renewed every third of it.
      namespace(str): The prefix of every key (see ``project_mutex.lua`` for the layout).
      on_wait(Callable[[Message], None]): Called with each message put in a line.
      sweep_interval_s(float): How often lines whose holder died are looked for.
    """

    def __init__(
        self,
        *,
        client: redis.Redis,
        lease_ttl_s: float = 30.0,
        namespace: str = "syncfarm",
        on_wait: Callable[[Message], None] | None = None,
        sweep_interval_s: float = 1.0,
    ) -> None:
        self.logger = get_logger(__name__, type(self))
        self.client = client
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self.namespace = namespace
        self.on_wait = on_wait
        self.sweep_interval_s = sweep_interval_s
        # How long a re-enqueued head may take to be delivered before it is sent again.
        self.handoff_ttl_ms = self.lease_ttl_ms
        self._script = client.register_script(_SCRIPT)
        self._lock = threading.Lock()
        self._leases: dict[str, Lease] = {}
        self._waited: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if worker.worker_timeout > _SLOW_POLL_MS:
            self.logger.warning(
                "Consumers poll up to every %d ms, which delays each project hand-off by as "
                "much; set dramatiq_worker_timeout=100 for hand-offs within ~100 ms.",
                worker.worker_timeout,
            )
        self._start(broker)

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        # Not before_worker_shutdown: that is emitted while runs are still finishing, and
        # their leases must be renewed until they do.
        self._stop()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        project_id = _project_id(message)
        if project_id is None:
            return

        self._start(broker)
        token = secrets.token_hex(16)
        try:
            taken = self._call(
                "acquire",
                project_id,
                token,
                self.lease_ttl_ms,
                message.message_id,
                message.encode(),
            )
        except redis.RedisError as e:
            raise ProjectMutexUnavailable(
                f"Could not take the lease of project {project_id!r} ({e}); the message fails "
                "and is retried. Check that the mutex's Redis is reachable."
            ) from e

        if taken:
            fence = int(taken)
            lease = Lease(project_id, fence, f"{fence}:{token}")
            with self._lock:
                self._leases[message.message_id] = lease
            _current.lease = lease
            return

        with self._lock:
            self._waited.add(message.message_id)
        self.logger.info("Message %r waits for project %r.", message.message_id, project_id)
        if self.on_wait is not None:
            try:
                self.on_wait(Message(**message.asdict()))
            except Exception:
                self.logger.exception("on_wait failed for message %r.", message.message_id)
        raise SkipMessage(f"project {project_id!r} is busy")

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        _current.lease = None
        self._release(broker, message)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        _current.lease = None
        with self._lock:
            waited = message.message_id in self._waited
            self._waited.discard(message.message_id)
        if waited or self._release(broker, message):
            return
        # Skipped by another middleware (e.g. AgeLimit) before it could run: it never will.
        self._forget(message)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        # A dead-lettered message never runs; if it waited, it must not stay head of a line.
        self._forget(message)

    def holder(self, project_id: str) -> LeaseHolder | None:
        """The project's lease: its holder's token and fencing token, and how long it lasts
        unless renewed."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self._keys(project_id)[0])
        pipe.pttl(self._keys(project_id)[0])
        token, ttl_ms = pipe.execute()
        if token is None:
            return None
        value = _text(token)
        fence, _, _ = value.partition(":")
        return {
            "token": value,
            "fence": int(fence) if fence.isdigit() else None,
            "ttl_ms": int(ttl_ms),
        }

    def raise_fence_floor(self, project_id: str, floor: int) -> None:
        """Make the project's next fencing token higher than `floor` (a fence the store has
        seen): after Redis lost its counter on a host whose clock is behind, the tokens it
        hands out could stay below the project's stored fence, and every run be refused."""
        key = self._keys(project_id)[5]
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    current = cast("bytes | None", pipe.get(key))
                    if current is not None and int(current) >= floor:
                        pipe.unwatch()
                        return
                    pipe.multi()
                    pipe.set(key, floor)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def waiting(self, project_id: str) -> list[str]:
        """The ids of the messages waiting for the project, first come first."""
        members = cast("list[bytes | str]", self.client.zrange(self._keys(project_id)[1], 0, -1))
        return [_text(m) for m in members]

    def held_projects(self) -> list[str]:
        """The ids of the projects whose lease is held (by a SCAN of the lock keys)."""
        prefix = f"{self.namespace}:lock:"
        waiting_projects = self._keys("")[4]
        return sorted(
            _text(key)[len(prefix) :]
            for key in self.client.scan_iter(match=prefix + "*", count=1000)
            if _text(key) != waiting_projects
        )

    def _keys(self, project_id: str) -> list[str]:
        ns = self.namespace
        return [
            f"{ns}:lock:{project_id}",
            f"{ns}:waiting:{project_id}",
            f"{ns}:waiting:{project_id}.msgs",
            f"{ns}:handoff:{project_id}",
            f"{ns}:lock:waiting-projects",
            f"{ns}:fence:{project_id}",
        ]

    def _call(self, command: str, project_id: str, *args: str | bytes | int) -> Any:
        return self._script(keys=self._keys(project_id), args=[command, project_id, *args])

    def _release(self, broker: Broker, message: MessageProxy) -> bool:
        """Release the lease the message holds, if any, and hand the project to its next run."""
        with self._lock:
            lease = self._leases.pop(message.message_id, None)
        if lease is None:
            return False
        try:
            released, head = self._call(
                "release", lease.project_id, lease.token, self.handoff_ttl_ms
            )
        except redis.RedisError:
            self.logger.warning(
                "Could not release project %r; it frees itself in %d ms.",
                lease.project_id,
                self.lease_ttl_ms,
                exc_info=True,
            )
            return True
        if not released:
            self.logger.warning(
                "Message %r ended after its lease of project %r had lapsed.",
                message.message_id,
                lease.project_id,
            )
        if head is not None:
            self._hand_off(broker, lease.project_id, head)
        return True

    def _forget(self, message: MessageProxy) -> None:
        project_id = _project_id(message)
        if project_id is None:
            return
        try:
            self._call("forget", project_id, message.message_id)
        except redis.RedisError:
            self.logger.warning(
                "Could not take message %r out of the line of project %r.",
                message.message_id,
                project_id,
                exc_info=True,
            )

    def _hand_off(self, broker: Broker, project_id: str, data: bytes | str) -> None:
        message = Message.decode(data.encode() if isinstance(data, str) else data)
        self.logger.debug("Handing project %r to message %r.", project_id, message.message_id)
        broker.enqueue(message)

    def _start(self, broker: Broker) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = threading.Event()
            self._thread = threading.Thread(
                target=self._maintain,
                args=(broker, self._stopping),
                name="ProjectMutex",
                daemon=True,
            )
            self._thread.start()

    def _stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
        if thread is not None:
            thread.join()

    def _maintain(self, broker: Broker, stopping: threading.Event) -> None:
        """Renew held leases every third of their ttl; sweep lines every sweep interval."""
        renew_interval_s = self.lease_ttl_ms / 3000
        next_renew = next_sweep = time.monotonic()
        while not stopping.wait(max(0.0, min(next_renew, next_sweep) - time.monotonic())):
            now = time.monotonic()
            if now >= next_renew:
                next_renew = now + renew_interval_s
                self._guarded(self._renew_all)
            if now >= next_sweep:
                next_sweep = now + self.sweep_interval_s
                self._guarded(self._sweep, broker)

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except Exception:
            self.logger.warning("%s failed; trying again later.", step.__name__, exc_info=True)

    def _renew_all(self) -> None:
        with self._lock:
            leases = list(self._leases.items())
        for message_id, lease in leases:
            if self._call("renew", lease.project_id, lease.token, self.lease_ttl_ms):
                continue
            with self._lock:
                lost = self._leases.get(message_id) is lease
                if lost:
                    del self._leases[message_id]
            if lost:
                self.logger.warning(
                    "Message %r lost its lease of project %r; another run may start.",
                    message_id,
                    lease.project_id,
                )

    def _sweep(self, broker: Broker) -> None:
        for member in cast("set[bytes | str]", self.client.smembers(self._keys("")[4])):
            project_id = _text(member)
            head = self._call("sweep", project_id, self.handoff_ttl_ms)
            if head is not None:
                self.logger.info("Project %r is free again; its next run is re-sent.", project_id)
                self._hand_off(broker, project_id, head)


def _project_id(message: MessageProxy) -> str | None:
    project_id = message.options.get("project_id")
    return str(project_id) if project_id else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
