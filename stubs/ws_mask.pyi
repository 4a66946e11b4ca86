"""Type stubs for the ``ws_mask`` C module (usermod/ws_mask).

The pure-Python twin ``microdot._ws_mask`` has the same API.
"""
from typing import Optional, Tuple

from _typeshed import ReadableBuffer, WriteableBuffer

def mask(buf: WriteableBuffer, key: ReadableBuffer, offset: int = 0) -> int:
    """XOR ``buf`` in place with the 4-byte ``key`` from key index ``offset``.

    Returns the key index for the next piece: ``(offset + len(buf)) & 3``.
    """
    ...

def parse_header(
    buf: ReadableBuffer,
) -> Optional[Tuple[bool, int, bool, int, int]]:
    """``(fin, opcode, masked, length, header_len)``, or None if incomplete."""
    ...

def build_header(
    buf: WriteableBuffer,
    opcode: int,
    length: int,
    fin: bool = True,
    key: Optional[ReadableBuffer] = None,
) -> int:
    """Write a frame header into ``buf`` (>= 14 bytes); return its length."""
    ...

def utf8_validate(buf: ReadableBuffer, state: int = 0) -> int:
    """0: complete and valid; > 0: valid so far, mid-code-point; -1: invalid."""
    ...

def byteview(obj: ReadableBuffer) -> ReadableBuffer:
    """``obj`` if its items are bytes, else a memoryview of its bytes.

    The view points into ``obj``: keep ``obj`` referenced while using it.
    """
    ...
