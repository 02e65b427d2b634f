"""Scoring: text-only items and users, ratings, input checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from lmrec.errors import InvalidInputError
from lmrec.model import TrainedModel


def test_text_only_item_vector_finds_its_topic(synthetic: Any, trained: TrainedModel) -> None:
    """A brand-new item (no index) lands among the catalog items of its own topic."""
    s = synthetic
    rng = np.random.default_rng(3)
    hits = []
    for it in rng.choice(s.data.n_items, size=20, replace=False):
        new = trained.item_vectors(s.item_vectors[[it]])  # text alone, as for a new item
        cat = trained.catalog_vectors()
        cos = (cat @ new[0]) / (np.linalg.norm(cat, axis=1) * np.linalg.norm(new[0]))
        cos[it] = -np.inf
        top = np.argsort(-cos)[:5]
        hits.append(np.mean(s.topic[top] == s.topic[it]))
    # Chance is 1 / N_TOPICS = 0.2.
    assert np.mean(hits) > 0.8


def test_new_user_from_raw_item_vectors(synthetic: Any, trained: TrainedModel) -> None:
    """A user with no index whose history holds items unknown to the model still works."""
    s = synthetic
    topic_items = np.arange(2 * synthetic.per_topic, 2 * synthetic.per_topic + 4)
    vec = trained.user_vectors(
        np.array([-1]),
        [np.full(len(topic_items), -1)],
        history_text=[s.item_vectors[topic_items]],
        profiles=np.zeros((1, s.user_vectors.shape[1]), dtype=np.float32),
    )
    scores = trained.score_vectors(vec)[0]
    scores[topic_items] = -np.inf
    top = np.argsort(-scores)[:10]
    assert np.mean(s.topic[top] == 2) >= 0.5


def test_index_adds_the_learned_id_part_to_history(synthetic: Any, trained: TrainedModel) -> None:
    """Giving a warm item by index (not by its text vector alone) adds its learned ``i0``."""
    s = synthetic
    h = s.test_histories[0][-5:]
    by_text = trained.user_vectors(
        np.array([-1]), [np.full(len(h), -1)], history_text=[s.item_vectors[h]]
    )
    by_index = trained.user_vectors(np.array([-1]), [h])
    assert by_text.shape == by_index.shape == (1, trained.dim)
    assert not np.allclose(by_text, by_index)


def test_history_vectors_match_the_item_tower_run_on_every_position(
    synthetic: Any, trained: TrainedModel
) -> None:
    """Scoring looks known history items up in the cached catalog and runs the item
    tower only for items given by text; the user vectors are those of the tower run
    on every position, for a batch mixing both kinds and two history lengths."""
    s = synthetic
    full = [s.test_histories[0][-6:], s.test_histories[1][-3:]]
    given = [full[0].copy(), full[1]]
    given[0][[1, 4]] = -1  # these two are given by their text vectors only
    texts = [s.item_vectors[h] for h in full]
    got = trained.user_vectors(np.array([-1, -1]), given, history_text=texts)
    net = trained.net
    profile = torch.zeros(1, s.user_vectors.shape[1])
    with torch.no_grad():
        for row, h in enumerate(given):
            vecs = net.item_vectors(torch.as_tensor(texts[row]), torch.as_tensor(h))
            zeros = torch.zeros(1, len(h), dtype=torch.int64)
            states = net.users.states(vecs[None], zeros, zeros, zeros.bool())
            want = states[0, -1] + net.user_static(profile, torch.tensor([-1]))[0]
            np.testing.assert_allclose(got[row], want.numpy(), rtol=1e-4, atol=1e-5)


def test_predicted_ratings_are_plausible(synthetic: Any, trained: TrainedModel) -> None:
    s = synthetic
    users = s.test_users
    pred = trained.predict_ratings(
        users, s.test_items, [s.test_histories[j] for j in range(len(users))]
    )
    assert pred.shape == (len(users),)
    assert np.isfinite(pred).all()
    assert 1.0 < float(pred.mean()) < 6.0


def test_bad_inputs_raise(trained: TrainedModel) -> None:
    with pytest.raises(InvalidInputError):
        trained.score(np.array([0]), [np.array([10_000])])
    with pytest.raises(InvalidInputError):
        trained.item_vectors(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(InvalidInputError):
        trained.user_vectors(np.array([0, 1]), [np.array([1])])


def test_user_vectors_do_not_depend_on_the_batch(synthetic: Any, trained: TrainedModel) -> None:
    """Users are scored in chunks sorted by history length; each row must be what
    scoring that user alone gives, in the caller's order, across several chunks."""
    s = synthetic
    rng = np.random.default_rng(3)
    n = 600  # more than two chunks
    picked = rng.integers(0, len(s.test_users), n)
    users = s.test_users[picked]
    # Tails of random lengths (a few empty), so chunks mix short and long histories.
    hists = [s.test_histories[j] for j in picked]
    hists = [h[len(h) - int(rng.integers(0, len(h) + 1)) :] for h in hists]
    together = trained.user_vectors(users, hists)
    for row in rng.choice(n, 25, replace=False):
        alone = trained.user_vectors(users[row : row + 1], [hists[row]])
        np.testing.assert_allclose(together[row], alone[0], rtol=1e-4, atol=1e-5)
