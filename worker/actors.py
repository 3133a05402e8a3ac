"""The actor that executes a run, recording every state transition in the run document."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import TimeLimitExceeded
from pymongo.errors import PyMongoError

from core import runs as runs_service
from core.errors import RunHeld, SyncfarmError
from core.models import RunState
from core.pipeline import RunExecution
from core.store import Store
from cron.wake import wake_ticker
from worker import runtime
from worker.broker import RUN_ACTOR, RUNS_QUEUE
from worker.enqueue import submit_run

log = logging.getLogger(__name__)


def _finish(
    store: Store, run_id: str, state: RunState, *, error: dict[str, Any] | None = None
) -> None:
    """Finish the run, and wake the ticker when its job is due again (events came while it
    ran), so their batch starts now rather than at the ticker's next poll."""
    if runs_service.finish_run(store, run_id, state, error=error):
        try:
            wake_ticker(runtime.redis())
        except redis.RedisError as exc:
            log.warning("could not wake the ticker (it will notice within its poll): %s", exc)


@dramatiq.actor(
    actor_name=RUN_ACTOR,
    queue_name=RUNS_QUEUE,
    max_retries=5,
    min_backoff=1000,
    time_limit=runtime.settings().run_time_limit_s * 1000,
)
def execute_run(run_id: str) -> None:
    """Run `run_id` to a final state. Store outages raise, so Dramatiq retries the message."""
    store = runtime.store()
    run = runs_service.start_run(store, run_id, worker=f"{socket.gethostname()}:{os.getpid()}")
    if run is None:
        log.info("run %s is finished or unknown; nothing to do", run_id)
        return

    def submit(follow_up: dict[str, Any], delay_ms: int | None) -> None:
        submit_run(store, dramatiq.get_broker(), follow_up, delay_ms)

    try:
        RunExecution(store, runtime.settings(), run, submit=submit).execute()
    except PyMongoError:
        raise
    except RunHeld as exc:
        _finish(store, run_id, RunState.HELD, error={"type": "RunHeld", "message": exc.message})
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
        )
        return
    except SyncfarmError as exc:
        _finish(
            store,
            run_id,
            RunState.FAILED,
            error={"type": type(exc).__name__, "message": exc.message},
        )
        return
    except Exception as exc:
        log.exception("run %s failed", run_id)
        _finish(
            store,
            run_id,
            RunState.FAILED,
            error={"type": type(exc).__name__, "message": f"unexpected error: {exc}"},
        )
        return
    _finish(store, run_id, RunState.SUCCEEDED)
