"""Protocol P5, streaming replay: does the system learn from what just happened?

Definition (also in ``docs/protocols.md``):

* Sort all events by time (stable: ties keep log order). The first
  ``train_fraction`` (80%) are the past: models are fitted on them. The last
  ``replay`` events (at most the remaining 20%) are replayed in order.
* For each replayed event ``(user, item)``: ask for the top 10 *before*
  revealing the event, excluding every item the user interacted with before it
  (training events and earlier replayed events); then reveal (ingest) it.
* HR@10 and NDCG@10 of the revealed item, over all replayed events and over the
  events of users who have no event in the training part ("unseen users").

Variants:

* ``static``: lmrec's serving path (retrieval and second stage) with user
  state frozen at training time (what a batch system that refits nightly
  serves): no replayed event is ingested; items revealed since are excluded.
  Users unseen in training get the training-time popularity list.
* ``realtime``: lmrec's engine with per-event user state: every revealed event
  is ingested and the next request's user vector comes from the user tower
  over the user's events so far (no retraining).
* ``realtime+learning``: as ``realtime``, plus the background trainer's step
  (fine-tune, judge on the recent holdout, promote if not worse) every
  ``learn_every`` replayed events. It runs between events, as if the
  background process were instantaneous; in production it runs beside serving.
* Baselines with per-event user state: a :class:`~lmrec.evaluate.base.Ranker`
  fitted on the training part, asked with each user's history so far (their
  item indices up to the event), which is how item-based and sequential models
  update user state without refitting.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lmrec.engine.training import last_event_holdout
from lmrec.evaluate.base import FitContext, Ranker
from lmrec.interactions import Interactions
from lmrec.schema import Event, Item, User

K = 10


@dataclass(frozen=True)
class StreamingResult:
    """One variant's P5 figures."""

    name: str
    hr10: float
    ndcg10: float
    hr10_unseen: float
    ndcg10_unseen: float
    events: int
    unseen_events: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Stream:
    """The P5 split: the past to fit on and the events to replay."""

    train: list[Event]
    replay: list[Event]
    unseen_users: frozenset[str]


def split_stream(
    events: Sequence[Event], train_fraction: float = 0.8, replay: int = 20_000
) -> Stream:
    """Split events by time into the training part and the replayed part."""
    ordered = sorted(events, key=lambda e: e.ts)  # sorted() is stable
    cut = round(len(ordered) * train_fraction)
    train = ordered[:cut]
    rest = ordered[max(cut, len(ordered) - replay) :]
    seen = {e.user for e in train}
    return Stream(train, rest, frozenset(e.user for e in rest if e.user not in seen))


class _Tally:
    def __init__(self, unseen: frozenset[str]) -> None:
        self.unseen = unseen
        self.hits = self.gain = 0.0
        self.n = 0
        self.u_hits = self.u_gain = 0.0
        self.u_n = 0

    def add(self, user: str, ranked: Sequence[str], target: str) -> None:
        gain = hit = 0.0
        for rank, item in enumerate(ranked[:K]):
            if item == target:
                hit, gain = 1.0, 1.0 / math.log2(rank + 2)
                break
        self.hits += hit
        self.gain += gain
        self.n += 1
        if user in self.unseen:
            self.u_hits += hit
            self.u_gain += gain
            self.u_n += 1

    def result(self, name: str, seconds: float) -> StreamingResult:
        def div(a: float, b: int) -> float:
            return a / b if b else 0.0

        return StreamingResult(
            name,
            div(self.hits, self.n),
            div(self.gain, self.n),
            div(self.u_hits, self.u_n),
            div(self.u_gain, self.u_n),
            self.n,
            self.u_n,
            seconds,
        )


def replay_engine(
    stream: Stream,
    make_engine: Callable[[], Any],
    *,
    variant: str,
    learn_every: int = 2000,
    trainer_factory: Callable[[Any], Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    label: str = "lmrec",
) -> StreamingResult:
    """Replay through an lmrec Engine already fitted on ``stream.train``.

    Args:
        stream: The split.
        make_engine: Returns a fresh engine holding the catalog, profiles, the
            training events and a trained, active model (each variant gets its own).
        variant: ``static``, ``realtime`` or ``realtime+learning``.
        learn_every: Replayed events between background-training steps.
        trainer_factory: ``engine -> BackgroundTrainer`` for ``realtime+learning``.
        progress: Called with ``(done, total)`` now and then.
        label: The model's row name; the variant's is appended (``lmrec real-time``).
    """
    engine = make_engine()
    tally = _Tally(stream.unseen_users)
    started = time.monotonic()
    trainer = (
        trainer_factory(engine) if variant == "realtime+learning" and trainer_factory else None
    )
    if variant == "static":
        # The serving path as it stood at training time: nothing replayed is
        # ingested, so the engine's user state, popularity and model stay frozen
        # (a batch system's nightly output); items revealed since are excluded,
        # as the real-time variants' store excludes them.
        revealed: dict[str, set[str]] = defaultdict(set)
        for n, e in enumerate(stream.replay):
            ranked = list(engine.recommend(e.user, K, exclude=revealed[e.user]).ids)
            if e.item is not None:
                tally.add(e.user, ranked, e.item)
                revealed[e.user].add(e.item)
            if progress and n % 1000 == 0:
                progress(n, len(stream.replay))
    else:
        for n, e in enumerate(stream.replay):
            ranked = list(engine.recommend(e.user, K).ids)
            if e.item is not None:
                tally.add(e.user, ranked, e.item)
            engine.ingest([e])
            if trainer is not None and (n + 1) % learn_every == 0:
                trainer.step(force=True)
                engine.refresh_model()
            if progress and n % 1000 == 0:
                progress(n, len(stream.replay))
    kind = {"static": "static", "realtime": "real-time"}.get(variant, "real-time + learning")
    name = f"{label} {kind}"
    result = tally.result(name, time.monotonic() - started)
    engine.close()
    return result


def replay_ranker(
    name: str,
    ranker: Ranker,
    items: Sequence[Item],
    users: Sequence[User],
    stream: Stream,
    item_vectors: np.ndarray,
    user_vectors: np.ndarray | None = None,
    seed: int = 42,
) -> StreamingResult:
    """Replay a baseline fitted on the training part, with per-event user state (histories).

    The baseline is tuned as in the other protocols: each training user's last event
    (users with three or more) is held out as its validation split, on which it picks
    its grid point and stops early, the same events the engine's own training holds
    out (:func:`~lmrec.engine.training.last_event_holdout`). Like the rankers of P1 it
    is not refitted on them; they are in every replayed user's history.
    """
    started = time.monotonic()
    everything = Interactions.from_records(items, [*stream.train, *stream.replay], users)
    n_train = len([e for e in stream.train if e.item is not None and e.item in everything.items])
    train = everything.subset(np.arange(n_train))
    uv = (
        user_vectors
        if user_vectors is not None
        else np.zeros((everything.n_users, item_vectors.shape[1]), dtype=np.float32)
    )
    fit_on, valid = last_event_holdout(train)
    ctx = FitContext(item_vectors=item_vectors, user_vectors=uv, valid=valid, seed=seed)
    ranker.fit(fit_on, ctx)
    hist: dict[int, list[int]] = defaultdict(list)
    for u, i in zip(train.user.tolist(), train.item.tolist(), strict=True):
        hist[u].append(i)
    tally = _Tally(stream.unseen_users)
    replay_rows = range(n_train, len(everything))
    batch = 256
    rows = list(replay_rows)
    # Histories only grow with earlier replayed events, so cases can be scored in
    # batches as long as each case's history is taken at its own moment.
    cases: list[tuple[int, int, list[int]]] = []
    for r in rows:
        u, i = int(everything.user[r]), int(everything.item[r])
        cases.append((u, i, list(hist[u])))
        hist[u].append(i)
    for s in range(0, len(cases), batch):
        chunk = cases[s : s + batch]
        users_idx = np.asarray([c[0] for c in chunk], dtype=np.int64)
        hists = [np.asarray(c[2], dtype=np.int64) for c in chunk]
        scores = np.asarray(ranker.score(users_idx, hists), dtype=np.float64)
        for j, (u, target, h) in enumerate(chunk):
            row = scores[j].copy()
            if h:
                row[np.asarray(h)] = -np.inf
            top = np.argsort(-row, kind="stable")[:K]
            tally.add(everything.users.ids[u], [everything.items.ids[t] for t in top],
                      everything.items.ids[target])  # fmt: skip
    return tally.result(name, time.monotonic() - started)
