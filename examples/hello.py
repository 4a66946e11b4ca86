"""A minimal Microdot app for the unix firmware.

Run with ``build/unix/micropython examples/hello.py --port 8080``.
"""
import sys

from microdot import Microdot

app = Microdot()


@app.get('/')
async def index(request):
    return ('<!doctype html><title>ws-firmware</title>'
            '<h1>Hello from MicroPython {}</h1>'.format(
                '.'.join(str(n) for n in sys.implementation.version[:3]))), \
        200, {'Content-Type': 'text/html; charset=utf-8'}


@app.get('/hello/<name>')
async def hello(request, name):
    return {'hello': name}


def _port(argv, default=8080):
    if '--port' in argv:
        return int(argv[argv.index('--port') + 1])
    return default


if __name__ == '__main__':
    port = _port(sys.argv)
    print('listening on http://localhost:{}/'.format(port))
    app.run(port=port)
