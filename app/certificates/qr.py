"""A certificate's QR code: the compact JWS itself, so that a scanner verifies it offline.

Byte mode, error correction M (15% of the symbol may be lost or smudged) and no higher:
every level more makes the symbol larger for the same document. A document signed here is
its header, its payload in base64url and a 64-byte signature: the demo city's are 794 to 886
bytes, a version 23 or 24 symbol at level M (109 or 113 modules a side), which the scanners
counters use and phone cameras read from a screen; data of a few hundred more characters
stays under version 30. SVG scales without loss on either.
"""

from __future__ import annotations

import segno
from segno import DataOverflowError

ERROR_LEVEL = "m"
MODULE_PX = 4  # pixels per module in the SVG's own size; it scales
# The largest document issued here: a version 32 symbol at level M (145 modules a side), still
# read reliably from a phone's screen. issueCertificate refuses content that would sign larger.
MAX_DOCUMENT_BYTES = 1_500


def qr_svg(document: str) -> str | None:
    """An inline SVG (no XML declaration) of a QR code holding exactly `document`; None for a
    document no QR code holds (over 2,331 bytes: one imported with very large data)."""
    try:
        code = segno.make_qr(document, error=ERROR_LEVEL, boost_error=False, encoding="utf-8")
    except DataOverflowError:
        return None
    return code.svg_inline(scale=MODULE_PX, border=4)
