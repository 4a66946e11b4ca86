# Frozen Python shared by every firmware of this project (unix, ESP32_CAM):
# asyncio and upstream Microdot with our own modules in place of upstream's.
#
# Upstream Microdot comes from the pinned PyPI wheel, unpacked by
# `make microdot` into build/microdot (override with
# include(..., microdot_dir=...)). The rule for frozen/microdot/:
#   * a file there with the name of an upstream module replaces that module
#     (our websocket.py replaces upstream's);
#   * any other file there is added to the package (e.g. _ws_mask.py).
import os

# include() runs each manifest with its own folder as the working directory.
_repo = os.path.dirname(os.getcwd())
options.defaults(microdot_dir=os.path.join(_repo, "build", "microdot"))

include("$(MPY_DIR)/extmod/asyncio")

# The upstream modules that are useful on a device. Left out: asgi, wsgi,
# jinja, test_client (CPython only), session (needs PyJWT's `jwt`) and
# utemplate (needs the utemplate package); neither is in the firmware.
_UPSTREAM = (
    "__init__.py",
    "microdot.py",
    "helpers.py",
    "sse.py",
    "websocket.py",
    "cors.py",
    "csrf.py",
    "auth.py",
    "login.py",
    "multipart.py",
)

_ours_dir = os.path.join(_repo, "frozen")
_ours = [f for f in os.listdir(os.path.join(_ours_dir, "microdot"))
         if f.endswith(".py")]
if not os.path.isfile(os.path.join(options.microdot_dir, "microdot",
                                   "microdot.py")):
    raise Exception("upstream Microdot not found in {} (run `make microdot`)"
                    .format(options.microdot_dir))

for _name in sorted(set(_UPSTREAM) | set(_ours)):
    _base = _ours_dir if _name in _ours else options.microdot_dir
    module("microdot/" + _name, base_path=_base)
