"""Type stubs for the ``ws_mask`` C module (usermod/ws_mask).

The pure-Python twin ``microdot._ws_mask`` has the same API.
"""
from typing import Optional, Tuple, Type, TypeVar

from _typeshed import ReadableBuffer, WriteableBuffer

_T = TypeVar('_T', bytes, str, bytearray)

def mask(
    buf: WriteableBuffer,
    key: ReadableBuffer,
    offset: int = 0,
    start: int = 0,
    end: Optional[int] = None,
) -> int:
    """XOR ``buf[start:end]`` in place with ``key`` from key index ``offset``.

    Returns the key index for the next piece: ``(offset + end - start) & 3``.
    Offsets count bytes; ``end=None`` is the end of ``buf``.
    """
    ...

def parse_header(
    buf: ReadableBuffer,
    start: int = 0,
    end: Optional[int] = None,
) -> Optional[Tuple[bool, int, bool, int, int]]:
    """``(fin, opcode, masked, length, header_len)`` of the header at
    ``buf[start:end]``, or None if incomplete."""
    ...

def header(
    buf: ReadableBuffer,
    start: int = 0,
    end: Optional[int] = None,
) -> int:
    """The header at ``buf[start:end]`` in one int, 0 if incomplete.

    ``h & 15`` opcode, ``h >> 4 & 15`` header length, ``h & 0x100`` FIN,
    ``h & 0x200`` MASK, ``h >> 10`` payload length.
    """
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

def utf8_validate(
    buf: ReadableBuffer,
    state: int = 0,
    start: int = 0,
    end: Optional[int] = None,
) -> int:
    """0: complete and valid; > 0: valid so far, mid-code-point; -1: invalid."""
    ...

def byteview(obj: ReadableBuffer) -> ReadableBuffer:
    """``obj`` if its items are bytes, else a memoryview of its bytes.

    The view points into ``obj``: keep ``obj`` referenced while using it.
    """
    ...

def copy(
    buf: ReadableBuffer,
    start: int = 0,
    end: Optional[int] = None,
    type: Type[_T] = bytes,
) -> _T:
    """A new bytes, bytearray or (validated) str of ``buf[start:end]``."""
    ...

class Payload:
    """A message's payload buffer that becomes bytes, str or bytearray.

    Supports the buffer protocol (``len(payload)`` bytes) and ``len()``.
    """

    def __init__(self, size: int) -> None: ...
    def __len__(self) -> int: ...
    def view(self, start: int = 0, end: Optional[int] = None) -> memoryview:
        """``memoryview`` of ``payload[start:end]``: the same object each
        call in the C module, emptied by :meth:`grow` and :meth:`take`."""
        ...
    def grow(self, size: int, limit: int = 0) -> None:
        """Lengthen to ``size`` bytes (amortised, spare room up to
        ``limit``), keeping the data."""
        ...
    def append(
        self,
        buf: ReadableBuffer,
        start: int = 0,
        end: Optional[int] = None,
        limit: int = 0,
    ) -> None:
        """Lengthen by ``buf[start:end]`` (as :meth:`grow` does) and copy
        it in."""
        ...
    def utf8_validate(self, end: Optional[int] = None) -> int:
        """Validate the bytes up to ``end`` not validated yet; the state."""
        ...
    def take(self, type: Type[_T] = bytes) -> _T:
        """The data as ``type`` (bytes, str or bytearray), not copied; the
        payload is empty afterwards."""
        ...
