"""Events logged in the same second are shuffled at every training step, and the
targets, ratings and weights move with them."""

from __future__ import annotations

import numpy as np
import torch

from lmrec.interactions import IdMap, Interactions
from lmrec.model import ModelConfig
from lmrec.model.history import UserSequences
from lmrec.model.train import _shuffle_ties, _Windows, _windows

# One user; with max_len 4 the windows are cut from the newest event back:
# row 0 = items [3, 4, 5, 6] at seconds [20, 30, 40, 40] and
# row 1 = [pad, 0, 1, 2] at [-, 10, 20, 20]: the 20-second group straddles them.
TS = [10.0, 20.0, 20.0, 20.0, 30.0, 40.0, 40.0]
WEIGHTS = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
Draw = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _windows_of(ts: list[float]) -> _Windows:
    n = len(ts)
    data = Interactions(
        users=IdMap.of(["u"]),
        items=IdMap.of([f"i{j}" for j in range(n)]),
        user=np.zeros(n, dtype=np.int64),
        item=np.arange(n, dtype=np.int64),  # event j is item j
        value=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0]),  # item j rated its own way
        weight=np.asarray(WEIGHTS),
        ts=np.asarray(ts),
        item_texts=tuple("" for _ in range(n)),
        item_categories=tuple(() for _ in range(n)),
        user_texts=("",),
    )
    return _windows(UserSequences.of(data), ModelConfig(max_len=4), torch.device("cpu"))


def _draws(win: _Windows, seed: int, n: int) -> list[Draw]:
    b = torch.arange(win.items.shape[0])
    gen = torch.Generator().manual_seed(seed)
    return [_shuffle_ties(win, b, win.items[b], gen) for _ in range(n)]


def test_events_of_one_second_change_places_and_targets_follow_them() -> None:
    win = _windows_of(TS)
    assert win.items.tolist() == [[3, 4, 5, 6], [-1, 0, 1, 2]]
    items = win.items.flatten().tolist()
    bucket = dict(zip(items, win.values.flatten().tolist(), strict=True))
    rating = dict(zip(items, win.raw_v.flatten().tolist(), strict=True))
    seen: set[tuple[int, ...]] = set()
    for hist, values, raw_v, nexts, w_all in _draws(win, seed=0, n=40):
        assert hist[0, :2].tolist() == [3, 4] and sorted(hist[0, 2:].tolist()) == [5, 6]
        assert hist[1, :2].tolist() == [-1, 0] and sorted(hist[1, 2:].tolist()) == [1, 2]
        for row in range(2):
            for p in range(4):
                item = int(hist[row, p])
                if item < 0:
                    assert int(nexts[row, p]) == -1 and float(w_all[row, p]) == 0.0
                    continue
                assert int(values[row, p]) == bucket[item]
                assert float(raw_v[row, p]) == rating[item]
                if p < 3:  # the next target is the event now after it, with its own weight
                    after = int(hist[row, p + 1])
                    assert int(nexts[row, p]) == after and float(w_all[row, p]) == WEIGHTS[after]
        # The newest event predicts nothing; the older window's last event still
        # predicts the event that opens the newer one.
        assert int(nexts[0, 3]) == -1
        assert int(nexts[1, 3]) == 3 and float(w_all[1, 3]) == WEIGHTS[3]
        seen.add((*hist[0, 2:].tolist(), *hist[1, 2:].tolist()))
    assert {s[:2] for s in seen} == {(5, 6), (6, 5)}
    assert {s[2:] for s in seen} == {(1, 2), (2, 1)}


def test_without_ties_nothing_moves() -> None:
    win = _windows_of([float(t) for t in range(len(TS))])
    for hist, values, raw_v, nexts, w_all in _draws(win, seed=0, n=5):
        assert torch.equal(hist, win.items) and torch.equal(values, win.values)
        assert torch.equal(nexts, win.nexts) and torch.equal(w_all, win.next_w)
        assert torch.equal(raw_v.nan_to_num(-9.0), win.raw_v.nan_to_num(-9.0))


def test_the_same_seed_shuffles_the_same_way() -> None:
    win = _windows_of(TS)
    a, b = _draws(win, seed=3, n=6), _draws(win, seed=3, n=6)
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
