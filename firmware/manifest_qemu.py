# Frozen Python for the QEMU firmware (`make qemu`, ports/qemu MPS2_AN385).
#
# The qemu port has no sockets, no `time` and no asyncio, so Microdot's
# server cannot run there; what runs is the code that needs none of them:
# the pure-Python twin of the C module ws_mask, frozen under the same name
# as in firmware/manifest.py (`microdot._ws_mask`, here in a namespace
# package as there is no Microdot __init__.py to import).
import os

# include() runs each manifest with its own folder as the working directory.
_repo = os.path.dirname(os.getcwd())

module("microdot/_ws_mask.py", base_path=os.path.join(_repo, "frozen"))
