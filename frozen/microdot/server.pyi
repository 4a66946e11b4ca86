"""Type stubs for ``microdot.server`` (frozen/microdot/server.py)."""
from typing import ClassVar, Optional, Sequence, Union

from microdot.microdot import Microdot as _Microdot

class Microdot(_Microdot):
    request_timeout: ClassVar[Optional[float]]
    idle_timeout: ClassVar[Optional[float]]
    max_headers: ClassVar[Optional[int]]
    max_head_length: ClassVar[Optional[int]]
    max_connections: ClassVar[Optional[int]]
    allowed_hosts: ClassVar[Optional[Union[str, Sequence[str]]]]
    connections: int
    def __init__(self) -> None: ...
    def host_allowed(self, host: Optional[str]) -> bool: ...
