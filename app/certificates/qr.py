"""A certificate's QR code: the compact JWS itself, so that a scanner verifies it offline.

Byte mode, error correction M (15% of the symbol may be lost or smudged) and no higher:
every level more makes the symbol larger for the same document. A document signed here is
about 900 to 1,100 bytes (its payload in base64url, the header, a 64-byte signature), which
is a version 25 to 28 symbol: 117 to 129 modules a side, read by the scanners counters use
and by phone cameras from a screen. SVG scales without loss on either.
"""

from __future__ import annotations

import segno

ERROR_LEVEL = "m"
MODULE_PX = 4  # pixels per module in the SVG's own size; it scales


def qr_svg(document: str) -> str:
    """An inline SVG (no XML declaration) of a QR code holding exactly `document`."""
    return segno.make_qr(document, error=ERROR_LEVEL, boost_error=False, encoding="utf-8").svg_inline(
        scale=MODULE_PX, border=4
    )
