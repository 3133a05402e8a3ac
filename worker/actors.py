"""The actor that executes a run, recording every state transition in the run document."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import TimeLimitExceeded
from pymongo.errors import ConnectionFailure, PyMongoError

from core import runs as runs_service
from core.errors import RunHeld, SyncfarmError
from core.models import RunState
from core.pipeline.execution import RunExecution
from core.store import Store
from cron.wake import wake_ticker
from worker import runtime
from worker.broker import RUN_ACTOR, RUNS_QUEUE
from worker.enqueue import submit_run
from worker.middleware import ProjectMutex, ProjectMutexUnavailable, current_lease

log = logging.getLogger(__name__)

#: Retries of other errors before the message is dead-lettered (the ticker fails its run later).
MAX_RETRIES = 5
#: The longest pause between two tries while the database or Redis is down.
MAX_BACKOFF_MS = 30_000


def retry_when(retries: int, exception: BaseException) -> bool:
    """Outages of the database or of the mutex's Redis, and a run that lost its project to a
    later one, are tried again for as long as they last (pauses growing to 30 s): the run
    waits them out instead of being dropped. Other errors get MAX_RETRIES tries."""
    waits_out = (ConnectionFailure, ProjectMutexUnavailable, runs_service.RunFencedOut)
    return isinstance(exception, waits_out) or retries < MAX_RETRIES


def _finish(
    store: Store,
    run_id: str,
    state: RunState,
    *,
    error: dict[str, Any] | None = None,
    fence: int | None = None,
    started: dict[str, Any] | None = None,
) -> None:
    """Finish the run, and wake the ticker when its job is due again (events came while it
    ran), so their batch starts now rather than at the ticker's next poll."""
    if runs_service.finish_run(store, run_id, state, error=error, fence=fence, started=started):
        try:
            wake_ticker(runtime.redis())
        except redis.RedisError as exc:
            log.warning("could not wake the ticker (it will notice within its poll): %s", exc)


def _raise_fence_floor(project_id: str, floor: int) -> None:
    """Let the next lease of the project outrank its stored fence. Harmless when a later run
    really holds the project (the mutex still hands it out one run at a time); needed when
    Redis lost its fencing counter and restarted it below the stored fence, or every run of
    the project would be refused for ever."""
    for middleware in dramatiq.get_broker().middleware:
        if isinstance(middleware, ProjectMutex):
            try:
                middleware.raise_fence_floor(project_id, floor)
            except redis.RedisError as exc:
                log.warning("could not raise the fencing counter of %s: %s", project_id, exc)


@dramatiq.actor(
    actor_name=RUN_ACTOR,
    queue_name=RUNS_QUEUE,
    retry_when=retry_when,
    min_backoff=1000,
    max_backoff=MAX_BACKOFF_MS,
    time_limit=runtime.settings().run_time_limit_s * 1000,
)
def execute_run(run_id: str) -> None:
    """Run `run_id` to a final state. Store outages raise, so Dramatiq retries the message;
    so does a run that lost its project lease to a later run (its writes were refused)."""
    store = runtime.store()
    lease = current_lease()
    fence = lease.fence if lease is not None else None
    try:
        started = runs_service.begin_run(
            store, run_id, worker=f"{socket.gethostname()}:{os.getpid()}", fence=fence
        )
    except runs_service.RunFencedOut as exc:
        log.warning("run %s not started: %s; it is tried again", run_id, exc.message)
        if lease is not None and exc.project_fence is not None:
            _raise_fence_floor(lease.project_id, exc.project_fence)
        raise
    if started is None:
        log.info("run %s is finished or unknown; nothing to do", run_id)
        return
    run = started.run

    def submit(follow_up: dict[str, Any], delay_ms: int | None) -> None:
        submit_run(store, dramatiq.get_broker(), follow_up, delay_ms)

    try:
        RunExecution(
            store,
            runtime.settings(),
            run,
            submit=submit,
            project=started.project,
            job=started.job,
        ).execute()
    except PyMongoError:
        raise
    except runs_service.RunFencedOut as exc:
        log.warning("run %s stopped: %s; it is tried again", run_id, exc.message)
        raise
    except RunHeld as exc:
        _finish(
            store,
            run_id,
            RunState.HELD,
            error={"type": "RunHeld", "message": exc.message},
            fence=fence,
            started=run,
        )
        return
    except TimeLimitExceeded:
        limit_s = runtime.settings().run_time_limit_s
        _finish(
            store,
            run_id,
            RunState.FAILED,
            error={
                "type": "TimeLimitExceeded",
                "message": f"stopped after the run time limit of {limit_s} s "
                "(SYNCFARM_RUN_TIME_LIMIT_S)",
            },
            fence=fence,
            started=run,
        )
        return
    except SyncfarmError as exc:
        _finish(
            store,
            run_id,
            RunState.FAILED,
            error={"type": type(exc).__name__, "message": exc.message},
            fence=fence,
            started=run,
        )
        return
    except Exception as exc:
        log.exception("run %s failed", run_id)
        _finish(
            store,
            run_id,
            RunState.FAILED,
            error={"type": type(exc).__name__, "message": f"unexpected error: {exc}"},
            fence=fence,
            started=run,
        )
        return
    _finish(store, run_id, RunState.SUCCEEDED, fence=fence, started=run)
