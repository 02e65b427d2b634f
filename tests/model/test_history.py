"""Per-user sequences: the time and rating context of histories given as item indices."""

from __future__ import annotations

import numpy as np

from lmrec.model.history import UserSequences


def test_context_gives_a_repeated_item_each_of_its_events() -> None:
    seqs = UserSequences(
        indptr=np.asarray([0, 3]),
        item=np.asarray([0, 1, 0]),
        ts=np.asarray([10.0, 20.0, 35.0]),
        weight=np.ones(3),
        value=np.asarray([4.0, 3.0, 2.0]),
    )
    # item 7 is unknown to the sequences: between and after the known events
    gaps, values = seqs.context_for(np.asarray([0]), [np.asarray([0, 7, 1, 0, 7])])
    np.testing.assert_array_equal(values[0], [4.0, np.nan, 3.0, 2.0, np.nan])
    np.testing.assert_array_equal(gaps[0], [np.nan, np.nan, np.nan, 15.0, np.nan])
