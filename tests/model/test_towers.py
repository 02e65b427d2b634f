"""The towers' training-time noise: dropout statistics and eval-time determinism."""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from lmrec.model.config import ModelConfig
from lmrec.model.towers import UserTower, drop_mask, fast_dropout


def test_fast_dropout_drops_the_given_share_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    x = torch.ones(200_000)
    out = fast_dropout(x, 0.2)
    assert abs(float((out == 0).float().mean()) - 0.2) < 0.01
    assert abs(float(out.mean()) - 1.0) < 0.01
    assert torch.equal(fast_dropout(x, 0.0), x)


def _inputs(b: int = 3, length: int = 7, dim: int = 16) -> tuple[torch.Tensor, ...]:
    hist = torch.randn(b, length, dim)
    gaps = torch.zeros(b, length, dtype=torch.long)
    values = torch.zeros(b, length, dtype=torch.long)
    pad = torch.zeros(b, length, dtype=torch.bool)
    pad[0, :3] = True  # a shorter, left-padded history
    return hist, gaps, values, pad


def test_user_tower_is_deterministic_in_eval_and_noisy_in_training() -> None:
    torch.manual_seed(0)
    tower = UserTower(5, 8, ModelConfig(dim=16, max_len=10, dropout=0.3))
    args = _inputs()
    tower.eval()
    assert torch.equal(tower.states(*args), tower.states(*args))
    tower.train()
    a, b = tower.states(*args), tower.states(*args)
    assert not torch.allclose(a, b)
    assert torch.isfinite(a).all()  # dropped keys never leave a row without any key


def test_padding_and_later_events_do_not_change_earlier_states() -> None:
    torch.manual_seed(0)
    tower = UserTower(5, 8, ModelConfig(dim=16, max_len=10)).eval()
    hist, gaps, values, pad = _inputs()
    base = tower.states(hist, gaps, values, pad)
    changed = hist.clone()
    changed[:, -1] += 5.0  # the newest event may only affect the newest state
    changed[0, :3] = 9.0  # padding is never attended to
    out = tower.states(changed, gaps, values, pad)
    assert torch.allclose(out[:, :-1][~pad[:, :-1]], base[:, :-1][~pad[:, :-1]], atol=1e-5)


def test_feed_forward_width_follows_ffn_mult() -> None:
    for mult in (2, 4):
        tower = UserTower(5, 8, ModelConfig(dim=16, max_len=10, ffn_mult=mult)).eval()
        block = cast(nn.TransformerEncoderLayer, tower.blocks[0])
        assert block.linear1.out_features == 16 * mult
        assert block.linear2.in_features == 16 * mult
        hist, gaps, values, pad = _inputs()
        assert tower.states(hist, gaps, values, pad).shape == (3, 7, 16)


def test_user_id_off_leaves_u0_out_of_the_user_vector() -> None:
    profile = torch.randn(3, 8)
    users = torch.tensor([0, 1, 2])
    for user_id in (True, False):
        tower = UserTower(5, 8, ModelConfig(dim=16, max_len=10, user_id=user_id)).eval()
        before = tower.static_part(profile, users, None)
        with torch.no_grad():
            tower.u0.weight.add_(1.0)
        after = tower.static_part(profile, users, None)
        assert torch.equal(before, after) is not user_id
        assert torch.equal(tower.static_part(profile, None, None), tower.profile(profile))


def test_last_only_gives_the_newest_state_of_the_full_pass() -> None:
    """Scoring reads only the newest state; computing the last block for that one
    query must give what the full pass gives there, with padding and two blocks."""
    torch.manual_seed(0)
    tower = UserTower(5, 8, ModelConfig(dim=16, max_len=10, n_layers=2)).eval()
    hist, gaps, values, pad = _inputs()
    full = tower.states(hist, gaps, values, pad)
    last = tower.states(hist, gaps, values, pad, last_only=True)
    assert last.shape == (3, 1, 16)
    torch.testing.assert_close(last, full[:, -1:], rtol=1e-5, atol=1e-6)


def test_default_masks_are_torch_rand_as_before() -> None:
    """The default stream is unchanged: published figures were trained on it."""
    x = torch.ones(1000)
    torch.manual_seed(5)
    got = fast_dropout(x, 0.3)
    torch.manual_seed(5)
    keep = torch.rand(x.shape) >= 0.3
    assert torch.equal(got, x * keep.float() / 0.7)


def test_numpy_masks_drop_the_given_share_and_follow_their_seed() -> None:
    cpu = torch.device("cpu")
    a = drop_mask((400, 500), 0.2, cpu, np.random.default_rng(1))
    b = drop_mask((400, 500), 0.2, cpu, np.random.default_rng(1))
    c = drop_mask((400, 500), 0.2, cpu, np.random.default_rng(2))
    assert a.dtype == torch.bool and a.shape == (400, 500)
    assert abs(float(a.float().mean()) - 0.2) < 0.005
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not drop_mask((1000,), 0.0, cpu, np.random.default_rng(1)).any()


def test_fast_masks_tower_is_seeded_by_torch_and_equal_in_eval() -> None:
    cfg = ModelConfig(dim=16, max_len=10, dropout=0.3, n_layers=2)
    torch.manual_seed(0)
    plain = UserTower(5, 8, cfg)
    fast = UserTower(5, 8, cfg.replace(fast_masks=True))
    fast.load_state_dict(plain.state_dict())
    args = _inputs()
    plain.eval()
    fast.eval()
    assert torch.equal(plain.states(*args), fast.states(*args))  # no masks in eval
    fast.train()
    torch.manual_seed(1)
    a = fast.states(*args)
    torch.manual_seed(1)
    b = fast.states(*args)
    c = fast.states(*args)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.isfinite(a).all()
