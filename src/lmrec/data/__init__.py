"""Getting data into lmrec: files, MovieLens, RecBole, and what was rejected and why.

Readers turn source rows into validated :class:`~lmrec.schema.Item`,
:class:`~lmrec.schema.User` and :class:`~lmrec.schema.Event` records and count
every row in an :class:`ImportReport`; nothing is dropped silently.

Example:
    >>> from lmrec.data import load_dataset
    >>> ds = load_dataset("ml-100k")  # doctest: +SKIP
    >>> ds.items[0].title  # doctest: +SKIP
    'Toy Story (1995)'
"""

from lmrec.data.dataset import Dataset
from lmrec.data.download import fetch, load_dataset
from lmrec.data.files import read_events, read_items, read_users
from lmrec.data.mapping import ColumnMapping
from lmrec.data.movielens import load_movielens
from lmrec.data.recbole import read_recbole
from lmrec.data.report import ImportReport, RejectExample, RejectReason

__all__ = [
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
]
