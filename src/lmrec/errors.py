"""The one exception hierarchy of lmrec.

Every error lmrec raises on purpose derives from :class:`LmrecError`. The
engine and its parts raise these; only the HTTP layer turns them into status
codes (in one handler, ``lmrec.api.errors``), and only the CLI turns them into
one-line messages and exit codes.

Hierarchy::

    LmrecError
    ├── InvalidInputError        (caller sent something malformed; HTTP 422)
    │   └── LimitExceededError   (a declared limit was exceeded; HTTP 413)
    ├── NotFoundError            (an id that must exist does not; HTTP 404)
    ├── ConflictError            (the request contradicts stored state; HTTP 409)
    ├── DataSourceError          (an input file or dataset cannot be read)
    ├── StoreError               (the durable store failed; HTTP 503)
    ├── ModelError               (a checkpoint is missing, corrupt or incompatible)
    └── MissingExtraError        (an optional dependency is not installed)
"""

from __future__ import annotations


class LmrecError(Exception):
    """Base class of every error lmrec raises deliberately.

    Args:
        detail: A sentence for a person: what is wrong and, where possible, how to fix it.
        field: The input field the error is about (dotted path), if any.
    """

    code: str = "error"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInputError(LmrecError):
    """The caller's input is malformed or inconsistent."""

    code = "invalid_input"


class LimitExceededError(InvalidInputError):
    """The input is well-formed but larger than an explicit, documented limit."""

    code = "limit_exceeded"


class NotFoundError(LmrecError):
    """A referenced entity (item, model version) does not exist."""

    code = "not_found"


class ConflictError(LmrecError):
    """The request conflicts with stored state (e.g. activating an unknown model)."""

    code = "conflict"


class DataSourceError(LmrecError):
    """An input file, dataset download or column mapping cannot be used."""

    code = "data_source"


class StoreError(LmrecError):
    """The durable store could not complete an operation."""

    code = "store_unavailable"


class ModelError(LmrecError):
    """A model checkpoint is missing, corrupt, or does not match the catalog."""

    code = "model_error"


class MissingExtraError(LmrecError):
    """An optional dependency is missing; the message names the install command."""

    code = "missing_extra"

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is required for this feature; install it with "
            f"`pip install 'lmrec[{extra}]'`"
        )
        self.package = package
        self.extra = extra


__all__ = [
    "ConflictError",
    "DataSourceError",
    "InvalidInputError",
    "LimitExceededError",
    "LmrecError",
    "MissingExtraError",
    "ModelError",
    "NotFoundError",
    "StoreError",
]
