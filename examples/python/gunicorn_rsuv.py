"""gunicorn with uvicorn workers, each worker's event loop an rsuv loop.

    gunicorn -w 2 -k gunicorn_rsuv.RsuvUvicornWorker asgi_app:app --bind 127.0.0.1:8000

(run from examples/python, or with it on PYTHONPATH). `uvicorn-worker`'s `UvicornWorker`
picks uvicorn's loop with `CONFIG_KWARGS`; uvicorn takes `module:factory` there, so the
worker below is all it takes. gunicorn's master forks the workers, all accepting on the one
listening socket; nothing in rsuv changes for it.
"""
from uvicorn_worker import UvicornWorker


class RsuvUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "loop": "rsuv:new_event_loop"}
