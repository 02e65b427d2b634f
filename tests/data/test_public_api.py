from __future__ import annotations

import lmrec.data


def test_public_names_are_pinned() -> None:
    # The CLI and the engine import exactly these; renaming one is a breaking change.
    assert set(lmrec.data.__all__) == {
        "ColumnMapping",
        "Dataset",
        "ImportReport",
        "RejectExample",
        "RejectReason",
        "fetch",
        "load_dataset",
        "load_movielens",
        "read_events",
        "read_items",
        "read_recbole",
        "read_users",
    }
    assert all(hasattr(lmrec.data, name) for name in lmrec.data.__all__)
