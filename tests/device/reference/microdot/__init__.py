# A regular package, so that it takes the place of an installed Microdot
# (the venv has upstream Microdot for the CPython tests): under the
# reference, `from microdot import _ws_mask` must find the reference twin.
