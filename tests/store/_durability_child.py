"""Child process for ``test_durability.py``: append batches forever, acknowledge each.

Usage: ``python _durability_child.py DB_PATH BATCH_SIZE``. After every
``append_events`` call returns, the batch's client ids go to stdout as one JSON
line, flushed, so the parent knows exactly what was acknowledged before it
sends SIGKILL.
"""

from __future__ import annotations

import json
import sys

from lmrec.schema import Event, EventKind
from lmrec.store.sqlite import SQLiteStore

MAX_BATCHES = 100_000  # a bound, in case the parent dies without killing us


def main(path: str, batch_size: int) -> None:
    store = SQLiteStore(path)
    for batch in range(MAX_BATCHES):
        ids = [f"b{batch}-{k}" for k in range(batch_size)]
        store.append_events(
            [
                Event(
                    user=f"u{batch % 7}", kind=EventKind.VIEW, item=f"i{k}", ts=float(batch), id=i
                )
                for k, i in enumerate(ids)
            ]
        )
        sys.stdout.write(json.dumps(ids) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
