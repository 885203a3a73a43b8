"""The two errors of the OData layer, and the sentence both services write.

::

    ValueError
    └── ODataSyntaxError        the query option cannot be read (HTTP 400)
        └── ODataTypeError      it reads, but compares incompatible types (400)
"""

from __future__ import annotations

__all__ = ["ODataSyntaxError", "ODataTypeError", "syntax_error"]


class ODataSyntaxError(ValueError):
    """A query option that cannot be read; both services answer 400.

    ``message`` is the whole sentence (also ``str(exc)``), ``position`` the
    0-based offset in the option's text where reading failed, when known, and
    ``detail`` the reason alone.
    """

    def __init__(
        self,
        message: str,
        position: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.detail = detail or message


class ODataTypeError(ODataSyntaxError):
    """A well-formed filter comparing values of incompatible types.

    Both services refuse such a filter with 400 as they do a syntax error, so
    callers that catch :class:`ODataSyntaxError` answer it the same way.
    """


def syntax_error(text: str, position: int, detail: str) -> ODataSyntaxError:
    """The error for ``detail`` found at ``position`` in the option ``text``."""
    message = f"Syntax error at position {position} in '{text}': {detail}."

    return ODataSyntaxError(message, position, detail)
