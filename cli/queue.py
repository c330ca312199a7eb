"""`ordergate queue`: the task queues as the operator's GET /api/v1/queue/status shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from cli import output, runtime
from cli.output import JsonFlag

if TYPE_CHECKING:
    from shared.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Watch the task queues.")


@app.command()
def status(json_: JsonFlag = False) -> None:
    """Show each queue's depth, the orders waiting, the workers, each broker's circuit and the
    brokers whose dispatch is paused.

    Exit 1 when no worker is online: nothing would take the queued work.
    """
    view = runtime.run(_status(runtime.settings()))
    if json_:
        output.emit_json(view)
    else:
        output.table(("queue", "messages waiting"), list(view["queues"].items()),
                     title=f"{view['orders_waiting_for_dispatch']} order(s) waiting for a worker")
        output.say(f"{view['workers_online']} worker(s) online: "
                   f"{', '.join(view['workers']) or 'none'}")
        output.table(("broker", "circuit", "retry in (s)", "consecutive failures"),
                     [(name, state["circuit"], state["retry_in_seconds"],
                       state["consecutive_failures"]) for name, state in view["brokers"].items()],
                     title="broker circuits")
        if view["dispatch_paused"]:
            output.table(("broker", "paused at", "reason"),
                         [(name, pause["paused_at"], pause["reason"])
                          for name, pause in view["dispatch_paused"].items()],
                         title="dispatch paused by an admin: these brokers' new orders wait")
    if not view["workers_online"]:
        raise runtime.Failure("no worker is online: queued orders wait until one starts")


async def _status(settings: Settings) -> dict[str, Any]:
    from shared.messaging.queue_status import operator_view

    async with runtime.database(settings) as engine, runtime.redis(settings) as redis:
        return await operator_view(engine, redis, settings)
