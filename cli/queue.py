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
    """Show each queue's depth, the orders waiting, the workers and each broker's circuit.

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
    if not view["workers_online"]:
        raise runtime.Failure("no worker is online: queued orders wait until one starts")


async def _status(settings: Settings) -> dict[str, Any]:
    from shared.messaging.queue_status import operator_view

    async with runtime.database(settings) as engine, runtime.redis(settings) as redis:
        return await operator_view(engine, redis, settings)
