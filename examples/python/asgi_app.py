"""A small ASGI app (Starlette) for the scaling examples: `/` says which process and which
event loop answered, `/ws` echoes WebSocket messages in upper case."""
import asyncio
import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute


async def who(request):
    loop = asyncio.get_running_loop()
    return JSONResponse({"pid": os.getpid(),
                         "loop": f"{type(loop).__module__}.{type(loop).__qualname__}"})


async def shout(ws):
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_text(text.upper())


app = Starlette(routes=[Route("/", who), WebSocketRoute("/ws", shout)])
