# Sphinx configuration for the ws-firmware documentation.
# Build with `make docs` (warnings are errors); output in build/docs/html.

project = 'ws-firmware'
author = 'ws-firmware developers'
copyright = '2026, ws-firmware developers'
release = '1.25.0'

extensions = []
templates_path = []
exclude_patterns = ['_build']
html_theme = 'alabaster'
html_static_path = ['_static']
html_theme_options = {
    'description': 'MicroPython for ESP32-CAM with a fast WebSocket stack',
    'fixed_sidebar': True,
}
default_role = 'literal'
nitpicky = True
nitpick_ignore = [
    ('py:class', 'microdot.Request'),
    ('py:attr', 'microdot.Request.max_body_length'),
    ('py:attr', 'microdot.Response.already_handled'),
    ('py:class', 'Request'),
]
