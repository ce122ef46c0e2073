"""rsuv.run on Python 3.9 and 3.10, which have no asyncio.Runner: asyncio.run's steps on an
rsuv loop."""

import asyncio
from asyncio import tasks


def _cancel_all_tasks(loop):
    to_cancel = tasks.all_tasks(loop)
    if not to_cancel:
        return
    for task in to_cancel:
        task.cancel()
    loop.run_until_complete(tasks.gather(*to_cancel, return_exceptions=True))
    for task in to_cancel:
        if task.cancelled():
            continue
        if task.exception() is not None:
            loop.call_exception_handler({
                "message": "unhandled exception during rsuv.run() shutdown",
                "exception": task.exception(),
                "task": task,
            })


def run(main, *, debug=None):
    from . import new_event_loop
    if asyncio.events._get_running_loop() is not None:
        raise RuntimeError("rsuv.run() cannot be called from a running event loop")
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
