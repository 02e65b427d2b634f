"""``ModelConfig``: field checks and ``KEY=VALUE`` overrides as the command line gives them."""

from __future__ import annotations

import pytest

from lmrec.errors import InvalidInputError, ModelError
from lmrec.model import ModelConfig
from lmrec.model.config import RatingConfig


def test_overrides_are_parsed_as_each_fields_type() -> None:
    got = ModelConfig.parse_overrides(
        ["lr=3e-3", "max_len = 50", "max_seconds=none", "mask_seen=false", "device=cpu"]
    )
    assert got == {
        "lr": 0.003,
        "max_len": 50,
        "max_seconds": None,
        "mask_seen": False,
        "device": "cpu",
    }
    assert type(got["max_len"]) is int and type(got["lr"]) is float
    cfg = ModelConfig().replace(**got)
    assert (cfg.lr, cfg.max_len, cfg.mask_seen) == (0.003, 50, False)
    assert RatingConfig.parse_overrides(["members=2"]) == {"members": 2}


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("lr", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("learning_rate=0.1", "has no field 'learning_rate'; fields: dim, "),
        ("max_len=2.5", "max_len='2.5': Input should be a valid integer"),
        ("mask_seen=maybe", "mask_seen='maybe'"),
        ("dim=none", "dim cannot be none"),
        ("dim=0", "dim must be >= 1, not 0"),
        ("ffn_mult=0", "ffn_mult must be >= 1, not 0"),
        ("dropout=1.5", "dropout must be in [0, 1), not 1.5"),
        ("user_id_dropout=1", "user_id_dropout must be in [0, 1), not 1.0"),
        ("dim=31", "dim (31) must be a multiple of n_heads (2)"),
        ("lr=-1", "lr must be > 0"),
    ],
)
def test_bad_overrides_name_what_is_wrong(pair: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        ModelConfig.parse_overrides([pair])
    assert message in err.value.detail
    assert err.value.field is not None and err.value.field.startswith("set")


def test_the_config_itself_refuses_impossible_shapes() -> None:
    with pytest.raises(ModelError, match="n_heads must be >= 1"):
        ModelConfig(n_heads=0)
    with pytest.raises(ModelError, match="max_epochs and patience"):
        ModelConfig(max_epochs=0)
    assert ModelConfig(dim=16, n_heads=4).dim == 16
