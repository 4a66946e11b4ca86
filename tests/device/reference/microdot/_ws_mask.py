"""Stands in for the Python twin when the oracle runs (see ../ws_mask.py)."""
from ws_mask import (Payload, build_header, copy, header, mask,  # noqa
                     parse_header, utf8_validate)
