"""Run tests/ws_app.py under CPython with this project's websocket layer.

Upstream Microdot is the one pip installed (microdot==2.7.0 in
requirements.txt); frozen/microdot/ goes first on the package's path, as
the firmware's manifest puts it, so ``microdot.websocket`` and
``microdot._ws_mask`` are ours and the rest is upstream's.
"""
import os
import runpy
import sys

import microdot

# Line by line, as the firmware prints: tests read the output as it comes.
sys.stdout.reconfigure(line_buffering=True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
microdot.__path__.insert(0, os.path.join(ROOT, 'frozen', 'microdot'))

import microdot.server  # noqa: E402
import microdot.websocket  # noqa: E402

microdot.Microdot = microdot.server.Microdot

print('microdot {} from {}; websocket from {}; codec {}'.format(
    microdot.__version__, os.path.dirname(microdot.__file__),
    microdot.websocket.__file__, microdot.websocket.ws_mask.__name__),
    flush=True)
sys.stdout.flush()
runpy.run_path(os.path.join(ROOT, 'tests', 'ws_app.py'), run_name='__main__')
