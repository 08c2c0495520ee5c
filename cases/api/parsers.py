"""The API's JSON parser: DRF's, refusing JSON nested deeper than any request of ours needs.

Python's ``json`` module parses nesting recursively, so a body of a few hundred kilobytes of
``[`` raises ``RecursionError`` (a 500), and nesting just under the interpreter's limit would
reach serializers and services that were never meant to walk it. Both are a client's mistake:
a 400 ``parse_error`` that says so. Registered as ``DEFAULT_PARSER_CLASSES``; a view that sets
its own ``parser_classes`` and takes JSON must list this class, not DRF's.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# The deepest request body of the API nests a few levels (a case with its intake and lists);
# this leaves room for any sane client while staying far below the interpreter's limit.
MAX_DEPTH = 64
TOO_DEEP = f"JSON parse error - the body is nested more than {MAX_DEPTH} levels deep."


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) nests arrays and objects more than ``limit`` levels,
    found without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a 400 instead of a 500 for nesting beyond ``MAX_DEPTH``."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if depth_exceeds(data, MAX_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
