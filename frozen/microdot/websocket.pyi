"""Type stubs for ``microdot.websocket`` (frozen/microdot/websocket.py)."""
from typing import (Any, Awaitable, Callable, ClassVar, Optional, Sequence,
                    Union)

from microdot import Request

class WebSocketError(Exception): ...

class WebSocket:
    CONT: ClassVar[int]
    TEXT: ClassVar[int]
    BINARY: ClassVar[int]
    CLOSE: ClassVar[int]
    PING: ClassVar[int]
    PONG: ClassVar[int]
    max_message_length: ClassVar[int]
    accept_fragments: ClassVar[bool]
    binary_type: ClassVar[type]
    allowed_origins: ClassVar[Union[str, Sequence[str]]]
    ping_interval: ClassVar[Optional[float]]
    ping_timeout: ClassVar[Optional[float]]
    close_timeout: ClassVar[float]
    request: Request
    closed: bool
    def __init__(self, request: Request) -> None: ...
    async def handshake(self) -> None: ...
    async def receive(self) -> Union[str, bytes, bytearray]: ...
    async def send(
        self, data: Union[str, bytes, bytearray, memoryview],
        opcode: Optional[int] = None,
    ) -> None: ...
    async def close(self) -> None: ...

async def websocket_upgrade(request: Request) -> WebSocket: ...
def websocket_wrapper(
    f: Callable[..., Any],
    upgrade_function: Callable[[Request], Awaitable[WebSocket]],
) -> Callable[..., Any]: ...
def with_websocket(f: Callable[..., Any]) -> Callable[..., Any]: ...
