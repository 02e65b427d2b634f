"""The FastAPI app factory: one Engine per process, built here, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lmrec import __version__
from lmrec.allocator import keep_freed_memory
from lmrec.api.console_routes import router as console_router
from lmrec.api.errors import install_error_handlers
from lmrec.api.limits import BodySizeLimit, WorkerHeader
from lmrec.api.routes import router
from lmrec.engine import Engine
from lmrec.settings import Settings
from lmrec.web import mount_console


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the HTTP app around ``engine`` (opened from ``settings`` at start-up if not given).

    Args:
        engine: An open engine to serve; the app does not close an engine it was given.
        settings: Used to open an engine when none is given.
    """
    settings = engine.settings if engine is not None else (settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine if engine is not None else Engine.open(settings=settings)
        try:
            yield
        finally:
            if owned:
                app.state.engine.close()

    app = FastAPI(
        title="lmrec",
        version=__version__,
        description="Real-time personalized search and recommendation powered by "
        "pretrained language models.",
        lifespan=lifespan,
    )
    if engine is not None:
        app.state.engine = engine
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(console_router)
    mount_console(app)

    app.add_middleware(WorkerHeader)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


def one_thread_per_worker() -> None:
    """Serving processes run one compute thread each: requests are small, and several
    threads per request only contend with the other requests and workers.

    ``lmrec serve`` also sets the thread variables before numpy loads
    (:func:`lmrec.cli.pin_threads`); a process that trained first (``lmrec demo``)
    loaded its BLAS and OpenMP pools at full size, so they are limited here at
    run time too.
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (multi-worker serving): settings from ``LMREC_*``."""
    one_thread_per_worker()
    keep_freed_memory()  # each worker's background trainer, as in `lmrec serve` (lmrec.allocator)
    return create_app(settings=Settings())
