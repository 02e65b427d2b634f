"""Each protocol's split checked against its definition on hand-made data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from lmrec.errors import NotFoundError
from lmrec.evaluate.protocols import (
    PROTOCOLS,
    Fold,
    Protocol,
    RankingTest,
    RatingTest,
    choose_cold_items,
    get_protocol,
    register_protocol,
    split_cold_items,
    split_next_item,
    split_rating,
)
from lmrec.interactions import Interactions

Maker = Callable[..., Interactions]


def _pairs(d: Interactions) -> set[tuple[str, str]]:
    return {(d.users.ids[u], d.items.ids[i]) for u, i in zip(d.user, d.item, strict=True)}


# Log order is deliberately not time order; u1 has a timestamp tie (b and c at ts 5).
P1_ROWS = [
    ("u1", "c", 5.0, 5.0),
    ("u1", "a", 4.0, 1.0),
    ("u1", "d", 3.0, 9.0),
    ("u1", "b", 2.0, 5.0),
    ("u2", "e", 5.0, 3.0),
    ("u2", "a", 1.0, 2.0),
    ("u2", "f", 2.0, 1.0),
    ("u3", "a", 3.0, 1.0),
    ("u3", "b", 3.0, 2.0),
]


def test_p1_last_is_test_second_last_is_validation(make_tiny: Maker) -> None:
    d = make_tiny(P1_ROWS)
    (fold,) = split_next_item(d)
    test = fold.test
    assert isinstance(test, RankingTest)
    u1, u2 = d.users.index["u1"], d.users.index["u2"]
    # u3 has 2 events: all in training, not evaluated
    assert sorted(test.users.tolist()) == sorted([u1, u2])
    idx = d.items.index
    by_user = dict(zip(test.users.tolist(), test.relevant, strict=True))
    assert by_user[u1].tolist() == [idx["d"]]
    assert by_user[u2].tolist() == [idx["e"]]
    assert fold.valid is not None
    valid = dict(zip(fold.valid.users.tolist(), fold.valid.items.tolist(), strict=True))
    # u1 in time order: a(1) c(5) b(5, logged after c) d(9) -> validation b
    assert valid == {u1: idx["b"], u2: idx["a"]}
    hist = dict(zip(test.users.tolist(), test.histories, strict=True))
    assert hist[u1].tolist() == [idx["a"], idx["c"], idx["b"]]  # includes the validation item
    vhist = dict(zip(fold.valid.users.tolist(), fold.valid.histories, strict=True))
    assert vhist[u1].tolist() == [idx["a"], idx["c"]]
    assert _pairs(fold.train) == {("u1", "a"), ("u1", "c"), ("u2", "f"), ("u3", "a"), ("u3", "b")}


def test_p1_no_test_or_validation_event_in_training(synth: Interactions) -> None:
    d = synth
    (fold,) = split_next_item(d)
    assert isinstance(fold.test, RankingTest) and fold.valid is not None
    train = _pairs(fold.train)
    for u, rel in zip(fold.test.users, fold.test.relevant, strict=True):
        assert (d.users.ids[u], d.items.ids[rel[0]]) not in train
    for u, it in zip(fold.valid.users, fold.valid.items, strict=True):
        assert (d.users.ids[u], d.items.ids[it]) not in train
    assert len(fold.train) == len(d) - 2 * fold.test.users.size


def test_nested_p1_tests_on_p1_validation_and_never_reads_p1_tests(synth: Interactions) -> None:
    d = synth
    (p1,) = split_next_item(d)
    (nested,) = get_protocol("P1-nested").split(d, 42)
    assert isinstance(p1.test, RankingTest) and isinstance(nested.test, RankingTest)
    assert p1.valid is not None and nested.valid is not None
    # Its test cases are P1's validation cases (users left with 3+ events), with
    # the same histories.
    p1_valid = {
        int(u): (int(i), h.tolist())
        for u, i, h in zip(p1.valid.users, p1.valid.items, p1.valid.histories, strict=True)
    }
    assert nested.test.users.size > 0
    for u, rel, h in zip(
        nested.test.users, nested.test.relevant, nested.test.histories, strict=True
    ):
        assert p1_valid[int(u)] == (int(rel[0]), h.tolist())
    # No P1 test event anywhere in it: not in training, validation or as a target.
    p1_test = {
        (d.users.ids[u], d.items.ids[rel[0]])
        for u, rel in zip(p1.test.users, p1.test.relevant, strict=True)
    }
    assert not p1_test & _pairs(nested.train)
    for u, it in zip(nested.valid.users, nested.valid.items, strict=True):
        assert (d.users.ids[u], d.items.ids[it]) not in p1_test
    assert len(nested.train) == len(d) - p1.test.users.size - 2 * nested.test.users.size
    # P4-nested shares the split, so one run scores the same fitted models.
    assert get_protocol("P4-nested").split is get_protocol("P1-nested").split


def test_p2_folds_are_disjoint_cover_all_ratings_and_are_seeded(synth: Interactions) -> None:
    d = synth
    folds = split_rating(d, seed=42)
    assert len(folds) == 5
    tests = [f.test for f in folds]
    assert all(isinstance(t, RatingTest) for t in tests)
    keys = [
        set(zip(t.users.tolist(), t.items.tolist(), strict=True))
        for t in tests
        if isinstance(t, RatingTest)
    ]
    assert sum(len(k) for k in keys) == len(d)  # synthetic has one event per pair
    assert set().union(*keys) == set(zip(d.user.tolist(), d.item.tolist(), strict=True))
    for f, k in zip(folds, keys, strict=True):
        train = set(zip(f.train.user.tolist(), f.train.item.tolist(), strict=True))
        assert f.valid is not None
        valid = set(zip(f.valid.users.tolist(), f.valid.items.tolist(), strict=True))
        assert not train & k and not valid & k and not train & valid
        assert len(train) + len(valid) + len(k) == len(d)
        assert len(valid) == round(0.1 * (len(d) - len(k)))
    again = split_rating(d, seed=42)
    other = split_rating(d, seed=7)
    assert all(
        np.array_equal(a.test.users, b.test.users) and np.array_equal(a.test.items, b.test.items)
        for a, b in zip(folds, again, strict=True)
    )
    assert not np.array_equal(folds[0].test.items, other[0].test.items)


def test_p3_held_out_items_never_in_training_and_only_they_are_ranked(synth: Interactions) -> None:
    d = synth
    cold = choose_cold_items(d, 42)
    counts = np.bincount(d.item, minlength=d.n_items)
    eligible = np.flatnonzero(counts >= 5)
    assert cold.size == round(0.2 * eligible.size) and np.isin(cold, eligible).all()
    (fold,) = split_cold_items(d, 42)
    test = fold.test
    assert isinstance(test, RankingTest) and test.candidates is not None
    assert fold.cold_items is not None and np.isin(cold, fold.cold_items).all()
    assert not np.isin(fold.train.item, cold).any()
    assert np.flatnonzero(test.candidates).tolist() == cold.tolist()
    for u, rel, hist in zip(test.users, test.relevant, test.histories, strict=True):
        mine = np.unique(d.item[(d.user == u) & np.isin(d.item, cold)])
        assert rel.tolist() == mine.tolist()
        assert not np.isin(hist, cold).any()
    # every user with a held-out interaction is a test case
    assert set(test.users.tolist()) == set(d.user[np.isin(d.item, cold)].tolist())
    # validation items are cold too: absent from training, not test items
    assert fold.valid is not None
    assert not np.isin(fold.train.item, fold.valid.items).any()
    assert not np.isin(fold.valid.items, cold).any()


def test_registry_accepts_new_protocols_and_names_known_ones() -> None:
    def split(data: Interactions, seed: int) -> list[Fold]:
        return []

    p = Protocol("PX", "test-only", "ranker", ("NDCG@10",), split, lambda m, f: {})
    register_protocol(p)
    try:
        assert get_protocol("PX") is p
    finally:
        PROTOCOLS.pop("PX")
    with pytest.raises(NotFoundError, match="P1"):
        get_protocol("nope")
