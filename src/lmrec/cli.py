"""The ``lmrec`` command line: demo, import, serve, recommend, search, stats.

Commands are thin: they build settings, open an Engine and call it. Errors
that lmrec raises on purpose print one line and exit with status 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lmrec.allocator import keep_freed_memory
from lmrec.errors import InvalidInputError, LmrecError
from lmrec.settings import Settings

app = typer.Typer(
    name="lmrec",
    help="Real-time personalized search and recommendation powered by language models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

T = TypeVar("T")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", "-d", help="Data folder (default: LMREC_DATA_DIR).")
]
EncoderOpt = Annotated[
    str | None, typer.Option("--encoder", help="Encoder model name or path; 'fake' for tests.")
]


def _settings(data_dir: Path | None, encoder: str | None = None, **extra: Any) -> Settings:
    changes: dict[str, Any] = dict(extra)
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if encoder is not None:
        changes["encoder"] = encoder
    return Settings(**changes)


def _open(settings: Settings) -> Any:
    from lmrec.engine import Engine

    with console.status("opening the engine (loading the language model)…"):
        return Engine.open(settings=settings)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _chunks(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def load_into(
    engine: Any, items: Sequence[Any], users: Sequence[Any], events: Sequence[Any]
) -> None:
    """Write a dataset into an engine in batches, with progress bars."""
    s = engine.settings
    with _progress() as progress:
        if items:
            task = progress.add_task("items (encode + index)", total=len(items))
            for batch in _chunks(items, min(s.max_items_per_request, 512)):
                engine.upsert_items(batch)
                progress.advance(task, len(batch))
        if users:
            task = progress.add_task("users", total=len(users))
            for ubatch in _chunks(users, 5000):
                engine.upsert_users(ubatch)
                progress.advance(task, len(ubatch))
        if events:
            task = progress.add_task("events", total=len(events))
            accepted = duplicates = 0
            for ebatch in _chunks(events, s.max_events_per_request):
                r = engine.ingest(ebatch)
                accepted += r.accepted
                duplicates += r.duplicates
                progress.advance(task, len(ebatch))
            console.print(f"events: {accepted} new, {duplicates} already stored")


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except LmrecError as exc:
        where = f" ({exc.field})" if exc.field else ""
        console.print(f"[red]error:[/red] {exc.detail}{where}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _result_table(title: str, scored: Any) -> Table:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("title")
    table.add_column("score", justify="right")
    table.add_column("source")
    for n, r in enumerate(scored, 1):
        table.add_row(str(n), r.id, r.title, f"{r.score:.4f}", r.source)
    return table


@app.command("import")
def import_(
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="'ml-100k', or a folder with MovieLens (u.data…) or RecBole files."),
    ] = None,
    items: Annotated[Path | None, typer.Option(help="Items file (CSV, Parquet, JSONL).")] = None,
    users: Annotated[Path | None, typer.Option(help="Users file.")] = None,
    events: Annotated[Path | None, typer.Option(help="Events file.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, parquet or jsonl (default: by extension).")
    ] = None,
    item_map: Annotated[
        list[str] | None,
        typer.Option(help="Items column mapping FIELD=COLUMN (repeatable), e.g. title=name."),
    ] = None,
    user_map: Annotated[
        list[str] | None, typer.Option(help="Users column mapping FIELD=COLUMN (repeatable).")
    ] = None,
    event_map: Annotated[
        list[str] | None,
        typer.Option(help="Events column mapping FIELD=COLUMN (repeatable), e.g. kind=rate."),
    ] = None,
) -> None:
    """Import a catalog, user profiles and events; prints the import report."""
    from lmrec import data

    with _errors():
        settings = _settings(data_dir, encoder)
        if dataset is None and not (items or users or events):
            raise InvalidInputError("give --dataset or at least one of --items/--users/--events")
        report = data.ImportReport()
        ds_items: list[Any] = []
        ds_users: list[Any] = []
        ds_events: list[Any] = []
        if dataset is not None:
            if dataset == "ml-100k":
                ds = data.load_dataset("ml-100k", cache_dir=settings.cache_dir / "datasets")
            elif (Path(dataset) / "u.data").exists():
                ds = data.load_movielens(Path(dataset))
            else:
                ds = data.read_recbole(dataset)
            ds_items, ds_users, ds_events = list(ds.items), list(ds.users), list(ds.events)
            report = report.merge(ds.report)

        def mapping(options: list[str] | None) -> Any:
            return data.ColumnMapping.from_options(options) if options else None

        if items is not None:
            got_items, r = data.read_items(items, mapping(item_map), fmt, settings)
            ds_items += got_items
            report = report.merge(r)
        if users is not None:
            got_users, r = data.read_users(users, mapping(user_map), fmt, settings)
            ds_users += got_users
            report = report.merge(r)
        if events is not None:
            got_events, r = data.read_events(events, mapping(event_map), fmt, settings)
            ds_events += got_events
            report = report.merge(r)
        engine = _open(settings)
        try:
            load_into(engine, ds_items, ds_users, ds_events)
        finally:
            engine.close()
        out.print(report.render())


@app.command()
def serve(
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int, typer.Option(help="Server processes sharing one store.")] = 1,
    background_training: Annotated[
        bool,
        typer.Option("--background-training", help="Also run `lmrec trainer` beside the server."),
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log",
            help="Log every request (off by default: at a thousand requests/s the log "
            "line costs more CPU than a cached recommendation).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (and console) for the engine in the data folder."""
    import uvicorn

    with _errors():
        settings = _settings(data_dir, encoder)
        host = host or settings.host
        port = port if port is not None else settings.port
        if background_training:
            _start_trainer(settings)  # before pinning: training wants every core
        pin_threads()
        if workers > 1:
            # Each worker builds its own app from LMREC_* variables; pass ours on.
            os.environ["LMREC_DATA_DIR"] = str(settings.data_dir)
            os.environ["LMREC_ENCODER"] = settings.encoder
            _serve_workers(host, port, workers, access_log=access_log)
            return
        from lmrec.api import create_app
        from lmrec.api.app import one_thread_per_worker

        one_thread_per_worker()
        engine = _open(settings)
        try:
            out.print(f"lmrec serving on http://{host}:{port}  (API docs: /docs)")
            uvicorn.run(
                create_app(engine), host=host, port=port, log_level="info", access_log=access_log
            )
        finally:
            engine.close()


#: Variables that size the compute thread pools of OpenMP (torch), OpenBLAS (numpy) and MKL.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads() -> None:
    """One compute thread per server process, unless the environment already says otherwise.

    A request is small (one query through the encoder, one vector against the
    catalog); several threads per request only contend with the other
    requests, the other workers and the rest of the machine. On a busy 2-core
    machine a 2k x 384 mat-vec took ~10 ms with numpy's default thread pool and
    under 1 ms with one thread. Pools are sized when their library loads, so
    this runs before the server imports numpy or torch; worker processes
    inherit the variables. The app also calls ``torch.set_num_threads(1)``.
    """
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def _serve_workers(host: str, port: int, workers: int, *, access_log: bool = False) -> None:
    """Run ``workers`` uvicorn processes on one listening socket (uvicorn's own supervisor).

    ``uvicorn.run(workers=N)`` binds with ``socket.socket(family)``, whose protocol
    number reads 0, so asyncio does not set TCP_NODELAY on accepted connections
    and every response waits ~40 ms for a delayed ACK (uvicorn issue 3149). We bind
    the same socket with ``IPPROTO_TCP`` and hand it to the same supervisor.
    """
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "lmrec.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    out.print(f"lmrec serving on http://{host}:{port} with {workers} worker processes")
    Multiprocess(config, sockets=[sock]).run()


def _start_trainer(settings: Settings) -> None:
    """Run ``lmrec trainer`` in its own process, stopped when this process exits."""
    import atexit
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "lmrec", "trainer", "--data-dir", str(settings.data_dir),
         "--encoder", settings.encoder],
    )  # fmt: skip

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    atexit.register(stop)


@app.command()
def demo(
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare only.")] = False,
) -> None:
    """Fetch MovieLens-100K, import it, and serve the API on 127.0.0.1."""
    from lmrec import data

    with _errors():
        settings = _settings(data_dir, encoder)
        console.print("[bold]lmrec demo[/bold]: MovieLens-100K (943 users, 1,682 films)")
        with console.status("fetching MovieLens-100K…"):
            ds = data.load_dataset("ml-100k", cache_dir=settings.cache_dir / "datasets")
        engine = _open(settings)
        try:
            if engine.store.count_events() < len(ds.events):
                load_into(engine, ds.items, ds.users, ds.events)
            else:
                console.print("already imported; reusing the data folder")
            out.print(ds.report.render())
            if engine.model_version is None:
                console.print("[bold]training the model[/bold] (about 3 minutes on 2 CPU cores)")
                record = engine.train()
                console.print(f"model {record.version} serving: {dict(record.metrics)}")
            if no_serve:
                return
            import uvicorn

            from lmrec.api import create_app
            from lmrec.api.app import one_thread_per_worker

            one_thread_per_worker()  # trained with every core; serve with one thread
            base = f"http://127.0.0.1:{port or settings.port}"
            out.print(
                f"\n[bold green]lmrec is serving[/bold green] on {base}\n"
                f"  API docs:        {base}/docs\n"
                f"  recommendations: {base}/v1/users/1/recommendations?k=10\n"
                f"  search:          {base}/v1/search?q=toy%20story\n"
                "Press Ctrl+C to stop."
            )
            uvicorn.run(
                create_app(engine),
                host="127.0.0.1",
                port=port or settings.port,
                log_level="warning",
            )
        finally:
            engine.close()


@app.command()
def trainer(
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    min_events: Annotated[int, typer.Option(help="Train after this many new events.")] = 1000,
    interval: Annotated[
        float, typer.Option(help="...or after this many seconds with at least one new event.")
    ] = 600.0,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs per step.")] = 3,
    once: Annotated[bool, typer.Option("--once", help="Run one step now and exit.")] = False,
) -> None:
    """Fine-tune the serving model on new events in the background; promote if not worse."""
    import logging
    import signal
    import threading

    from lmrec.realtime import BackgroundTrainer, TrainerPolicy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with _errors():
        engine = _open(_settings(data_dir, encoder))
        policy = TrainerPolicy(min_new_events=min_events, interval_s=interval, epochs=epochs)
        bg = BackgroundTrainer(engine, policy)
        try:
            if once:
                step = bg.step(force=True)
                out.print(
                    f"trainer: {step.reason}; candidate={step.candidate and step.candidate.version}"
                    f" holdout ndcg@10 {step.candidate_ndcg} vs serving {step.serving_ndcg}"
                )
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            out.print(f"lmrec trainer watching {engine.settings.data_dir}")
            bg.run(stop)
        except KeyboardInterrupt:
            pass
        finally:
            engine.close()


@app.command()
def evaluate(
    dataset: Annotated[
        str, typer.Option(help="'ml-100k', or a folder with MovieLens or RecBole files.")
    ] = "ml-100k",
    protocol: Annotated[
        list[str] | None,
        typer.Option(help="P1 P2 P3 P4 P5 (or 'streaming'); repeatable. Default: all."),
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="Models to run (default: lmrec and every baseline).")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Report folder (default: <data-dir>/reports/<time>)."),
    ] = None,
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small grids and epochs.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for every split and model.")] = 42,
    train_seeds: Annotated[
        int,
        typer.Option(
            min=1,
            help="Fit each model this many times per fold (seeds SEED, SEED+1, ...) and "
            "report the mean and spread; P5 keeps one.",
        ),
    ] = 1,
    first_train_seed: Annotated[
        int | None,
        typer.Option(
            "--first-train-seed",
            help="First training seed instead of SEED (the splits keep SEED), e.g. to add "
            "seeds to a report with --merge --add-seeds.",
        ),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="Re-run only the named protocols/models and keep every other row of the "
            "report already in --out (each run is listed in the report).",
        ),
    ] = False,
    add_seeds: Annotated[
        bool,
        typer.Option(
            "--add-seeds",
            help="With --merge: join each re-run row with the report's row of the same "
            "name (other training seeds, one-fold protocols) instead of replacing it.",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Change a field of lmrec's ModelConfig (repeatable); its rows are then named "
            "lmrec[KEY=VALUE,...]. For P1, P3, P4 and P5 (P2: --set-rating).",
        ),
    ] = None,
    set_rating: Annotated[
        list[str] | None,
        typer.Option(
            "--set-rating",
            metavar="KEY=VALUE",
            help="Change a field of lmrec's RatingConfig (repeatable) for P2; its rows are "
            "then named lmrec[KEY=VALUE,...].",
        ),
    ] = None,
) -> None:
    """Run the named protocols against lmrec and the baselines; write report.md/json + charts."""
    from lmrec.evaluate import command

    with _errors():
        settings = _settings(data_dir, encoder)
        folder = command.run(
            dataset,
            protocols=protocol or None,
            models=model or None,
            out_dir=report_dir,
            quick=quick,
            seed=seed,
            train_seeds=train_seeds,
            data_dir=settings.data_dir,
            encoder=settings.encoder,
            progress=lambda line: console.print(line, highlight=False),
            merge=merge,
            lmrec_set=set_ or (),
            lmrec_rating_set=set_rating or (),
            first_train_seed=first_train_seed,
            add_seeds=add_seeds,
        )
        out.print(f"report: {folder / 'report.md'}")
        failed = command.failed_rows(folder)
        for proto, name, error in failed:
            console.print(f"[red]failed:[/red] {proto} {name}: {error}", highlight=False)
        if failed:
            raise typer.Exit(1)


models_app = typer.Typer(help="List, promote and roll back model versions.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.command()
def train(
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    epochs: Annotated[int | None, typer.Option(help="Upper bound on epochs.")] = None,
    seconds: Annotated[float | None, typer.Option(help="Training time budget.")] = None,
    no_activate: Annotated[
        bool, typer.Option("--no-activate", help="Register without serving it.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Change a field of the ModelConfig (repeatable), e.g. --set dim=128.",
        ),
    ] = None,
) -> None:
    """Train the model on everything stored, register it and serve it.

    Runs on CUDA when present (LMREC_DEVICE=cuda|cpu|auto decides). The config
    (with any --set changes) is saved with the checkpoint.
    """
    from lmrec.model import ModelConfig

    with _errors():
        cfg = ModelConfig().replace(**ModelConfig.parse_overrides(set_ or []))
        engine = _open(_settings(data_dir, encoder))
        try:
            if epochs is not None:
                cfg = cfg.replace(max_epochs=epochs)
            if seconds is not None:
                cfg = cfg.replace(max_seconds=seconds)
            record = engine.train(cfg, activate=not no_activate)
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in record.metrics.items())
            state = "serving" if record.active else "registered"
            out.print(f"model {record.version} {state}: {metrics}")
        finally:
            engine.close()


def _store(data_dir: Path | None) -> Any:
    from lmrec.store import open_store

    settings = _settings(data_dir)
    return open_store(settings.store, str(settings.data_dir / "lmrec.db"))


@models_app.command("list")
def models_list(data_dir: DataDir = None) -> None:
    """Every registered model version, newest first."""
    with _errors():
        store = _store(data_dir)
        try:
            table = Table(title="model versions")
            table.add_column("version", no_wrap=True)
            for col in ("active", "created", "metrics", "path"):
                table.add_column(col, overflow="fold")
            import time as _time

            for m in store.list_models():
                when = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(m.created_at))
                metrics = ", ".join(f"{k}={v:.4g}" for k, v in m.metrics.items())
                table.add_row(m.version, "*" if m.active else "", when, metrics, m.path)
            out.print(table)
        finally:
            store.close()


@models_app.command("promote")
def models_promote(version: str, data_dir: DataDir = None) -> None:
    """Serve VERSION: every server process sharing the store swaps to it."""
    with _errors():
        store = _store(data_dir)
        try:
            store.activate_model(version)
            out.print(f"model {version} is now active")
        finally:
            store.close()


@models_app.command("rollback")
def models_rollback(data_dir: DataDir = None) -> None:
    """Serve the version registered before the active one."""
    from lmrec.errors import ConflictError

    with _errors():
        store = _store(data_dir)
        try:
            models = store.list_models()
            active = next((m for m in models if m.active), None)
            if active is None:
                raise ConflictError("no model is active; nothing to roll back")
            older = [m for m in models if m.created_at < active.created_at]
            if not older:
                raise ConflictError(
                    f"{active.version} is the oldest version; nothing to roll back to"
                )
            store.activate_model(older[0].version)
            out.print(f"rolled back from {active.version} to {older[0].version}")
        finally:
            store.close()


@app.command()
def recommend(
    user: str,
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many items.")] = 10,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
) -> None:
    """Print recommendations for USER."""
    with _errors():
        engine = _open(_settings(data_dir, encoder))
        try:
            out.print(
                _result_table(
                    f"recommendations for {user}", engine.recommend(user, k, category=category)
                )
            )
        finally:
            engine.close()


@app.command()
def search(
    query: str,
    data_dir: DataDir = None,
    encoder: EncoderOpt = None,
    user: Annotated[str | None, typer.Option(help="Personalize for this user.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="How many items.")] = 10,
) -> None:
    """Search the catalog for QUERY."""
    with _errors():
        engine = _open(_settings(data_dir, encoder))
        try:
            out.print(_result_table(f"search: {query}", engine.search(query, user=user, k=k)))
        finally:
            engine.close()


@app.command()
def stats(data_dir: DataDir = None, encoder: EncoderOpt = None) -> None:
    """Print what the engine holds."""
    with _errors():
        engine = _open(_settings(data_dir, encoder))
        try:
            for key, value in engine.stats().as_dict().items():
                if key != "categories":
                    out.print(f"{key:>14}: {value}")
        finally:
            engine.close()


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Training and serving reuse large blocks step after step (lmrec.allocator).
    keep_freed_memory()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
