"""Stands in for the Python twin when the oracle runs (see ../ws_mask.py)."""
from ws_mask import build_header, mask, parse_header, utf8_validate  # noqa
