# This firmware's microdot package: upstream Microdot 2.7.0's names, with
# Microdot itself the hardened server of microdot.server.
from microdot.microdot import Request, Response, abort, redirect, \
    send_file, URLPattern, AsyncBytesIO, iscoroutine  # noqa: F401
from microdot.server import Microdot  # noqa: F401

__version__ = '2.7.0'
