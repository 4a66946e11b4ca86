"""The camera demo page in a real browser: Debian's Chromium via Playwright.

The page loads from the unix firmware, opens its WebSocket, decodes the JPEG
frames with the browser's own decoder and draws them; its counters
(``window.cam``) are cross-checked with the server's (``/stats`` and the
acks). Chromium is the system one (ci/deps.sh browser); Playwright never
downloads a browser here.
"""
import base64
import json
import os
import urllib.request

import pytest

from conftest import BUILD, CAMERA_APP

try:
    from playwright import sync_api
except ImportError as exc:
    # requirements.txt installs it: missing, the test fails (see browser).
    sync_api = None
    PLAYWRIGHT_MISSING = exc

CHROMIUM = '/usr/bin/chromium'
# Root, no display, no network but loopback.
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu',
                 '--disable-background-networking',
                 '--disable-component-update', '--disable-sync',
                 '--no-first-run', '--disable-quic']
# Generous bounds for a loaded 2-core machine; frames come at 25 per second.
TIMEOUT_MS = 30000
SCREENSHOT = os.path.join(BUILD, 'camera_ws.png')
VIEWPORT = {'width': 1000, 'height': 600}


@pytest.fixture(scope='module')
def browser():
    if sync_api is None:
        pytest.fail('Playwright missing ({}): `make venv` installs it from '
                    'requirements.txt'.format(PLAYWRIGHT_MISSING))
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail('{} missing: run `ci/deps.sh browser`'.format(CHROMIUM))
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                              headless=True)
        yield b
        b.close()


@pytest.fixture
def app(camera_app):
    return camera_app


def stats(server, token=None):
    req = urllib.request.Request(server.url + '/stats')
    if token is not None:
        req.add_header('Authorization', 'Basic ' + base64.b64encode(
            b'test:' + token.encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def open_page(browser, server, context=None):
    """Open the demo page, in a new context or in ``context``."""
    if context is None:
        page = browser.new_page(viewport=VIEWPORT)
    else:
        page = context.new_page()
    errors = []
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.on('console', lambda m: m.type == 'error' and errors.append(m.text))
    page.goto(server.url + '/')
    page.errors = errors
    return page


def cam(page, expr):
    return page.evaluate('(c => {})(window.cam)'.format(expr))


def wait(page, condition):
    page.wait_for_function('(c => {})(window.cam)'.format(condition),
                           timeout=TIMEOUT_MS)


def send(page, msg):
    """Send a control message from the page; return its ack."""
    msg_id = page.evaluate('m => window.cam.send(m)', msg)
    assert msg_id is not None
    wait(page, 'c.acks.some(a => a.id === {})'.format(msg_id))
    return page.evaluate('id => window.cam.acks.find(a => a.id === id)',
                         msg_id)


def test_page_shows_frames_and_drives_the_camera(browser, app):
    page = open_page(browser, app)
    wait(page, 'c.displayed >= 30')
    c = cam(page, '({...c, acks: undefined})')
    assert c['decodeErrors'] == 0 and c['badStamps'] == 0
    assert (c['width'], c['height']) == (320, 240)
    assert c['hello']['state']['source'] == 'synthetic'
    # Every frame received was decoded or, while another one decoded,
    # passed over for a newer one; at most two are still in the pipeline.
    in_pipeline = c['received'] - c['decoded'] - c['skipped']
    assert 0 <= in_pipeline <= 2, c

    # A control message through the page's own API: the ack comes back and
    # the frames change size.
    ack = send(page, {'cmd': 'size', 'value': 'QQVGA'})
    assert ack['ok'] and ack['state']['size'] == 'QQVGA', ack
    wait(page, 'c.width === 160 && c.height === 120')
    assert page.eval_on_selector('#size', 'e => e.value') == 'QQVGA'

    # And through the UI: the LED button and the pause button.
    page.click('#led')
    wait(page, 'c.acks.some(a => a.cmd === "led" && a.ok)')
    assert cam(page, 'c.state.led') is True
    assert 'on' in page.get_attribute('#led', 'class')
    assert stats(app)['source']['led'] is True

    page.click('#pause')
    wait(page, 'c.acks.some(a => a.cmd === "pause")')
    ack = cam(page, 'c.acks.find(a => a.cmd === "pause")')
    assert ack['ok'] and ack['paused'] is True
    page.wait_for_timeout(300)
    c = cam(page, '({...c, acks: undefined})')
    # Cross-check with the server: what it sent is what the page received;
    # the drops the page read from the stamps are the server's.
    server = stats(app)['viewers']
    assert len(server) == 1
    assert server[0]['sent'] == ack['sent'] == c['received']
    assert server[0]['dropped'] == ack['dropped'] == c['drops']
    assert c['displayed'] >= 30 and c['decodeErrors'] == 0
    assert page.text_content('#pause') == 'Resume'

    page.click('#pause')
    wait(page, 'c.acks.some(a => a.cmd === "resume")')
    wait(page, 'c.displayed >= {}'.format(c['displayed'] + 10))
    page.wait_for_timeout(1200)  # a full second of rates on screen
    os.makedirs(BUILD, exist_ok=True)
    page.screenshot(path=SCREENSHOT)
    print('\npage: {received} frames received, {decoded} decoded, '
          '{displayed} shown, {drops} dropped, {fps:.1f} fps, '
          '{kbps:.0f} kbit/s; screenshot {shot}'.format(
              shot=SCREENSHOT, **cam(page, '({...c, acks: undefined})')))
    assert page.errors == []
    page.close()


def test_two_pages_stream_and_closing_one_leaves_the_other(browser, app):
    a = open_page(browser, app)
    b = open_page(browser, app)
    wait(a, 'c.displayed >= 10')
    wait(b, 'c.displayed >= 10')
    ids = sorted(v['id'] for v in stats(app)['viewers'])
    assert len(ids) == 2
    b_id = cam(b, 'c.hello.viewer')
    # A shared setting changed on one page shows up on the other.
    ack = send(a, {'cmd': 'quality', 'value': 30})
    assert ack['ok']
    wait(b, 'c.state.quality === 30')

    a.close()
    shown = cam(b, 'c.displayed')
    wait(b, 'c.displayed >= {}'.format(shown + 30))
    viewers = stats(app)['viewers']
    assert [v['id'] for v in viewers] == [b_id]
    assert cam(b, 'c.decodeErrors') == 0 and cam(b, 'c.connected')
    assert b.errors == []
    b.close()


TOKEN = 'a-token-for-the-browser'


@pytest.fixture
def token_app(serve, tmp_path):
    path = tmp_path / 'token.txt'
    path.write_text(TOKEN)
    return serve(CAMERA_APP, '--fps', '25', '--token-file', str(path))


def test_page_with_an_access_token(browser, token_app):
    # No credentials: a 401 challenge, and a browser without an answer to
    # it (Playwright cancels the login prompt) shows no page.
    context = browser.new_context()
    response = context.request.get(token_app.url + '/')
    assert response.status == 401
    assert response.headers['www-authenticate'].startswith('Basic ')
    page = context.new_page()
    with pytest.raises(sync_api.Error, match='ERR_INVALID_AUTH_CREDENTIALS'):
        page.goto(token_app.url + '/')
    context.close()
    # A user who types the token into the browser's login prompt: the
    # context answers the 401 challenge with these credentials, as the
    # prompt would; the page's own WebSocket and controls then work.
    context = browser.new_context(
        viewport=VIEWPORT,
        http_credentials={'username': 'me', 'password': TOKEN})
    page = open_page(browser, token_app, context)
    wait(page, 'c.displayed >= 20')
    assert cam(page, 'c.decodeErrors') == 0 and cam(page, 'c.connected')
    ack = send(page, {'cmd': 'led', 'value': True})
    assert ack['ok'] and ack['state']['led'] is True, ack
    viewers = stats(token_app, TOKEN)['viewers']
    assert [v['id'] for v in viewers] == [cam(page, 'c.hello.viewer')]
    assert page.errors == []
    context.close()
