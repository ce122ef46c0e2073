"""An ASGI app for the uvicorn tests: an HTTP route that says which event loop serves it,
and a WebSocket route that echoes in upper case."""
import asyncio

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute


async def loop_info(request):
    loop = asyncio.get_running_loop()
    return JSONResponse({"loop": f"{type(loop).__module__}.{type(loop).__qualname__}"})


async def shout(ws):
    await ws.accept()
    while True:
        try:
            text = await ws.receive_text()
        except Exception:
            return
        await ws.send_text(text.upper())


app = Starlette(routes=[Route("/loop", loop_info), WebSocketRoute("/ws", shout)])
