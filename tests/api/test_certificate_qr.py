"""The QR code a citizen's app shows and a counter's scanner reads: decoded by a real decoder
(zxing-cpp), it is the document itself, and the document verifies offline."""

from __future__ import annotations

import re

import zxingcpp

from app.auth.roles import Role
from tests.api import city
from tests.api.certs import issue, published_keys, verify_offline
from tests.api.conftest import Api, codes_at

QR = """query($id: String!, $a: AccessInput) { certificate(identifier: $id, access: $a) { document qrCode } }"""
PIXELS = 4  # per module, as a scanner's camera would see a screen


def rasterise(svg: str) -> memoryview:
    """The SVG as a grayscale image: segno draws each row's dark modules as horizontal strokes
    (`M x y`, then `h length` and relative `m dx dy`), one module wide."""
    side = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))  # type: ignore[union-attr]
    modules = side // scale
    dark = [[False] * modules for _ in range(modules)]
    x = y = 0.0
    path = re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    for command, args in re.findall(r"([MmHh])([^MmHh]*)", path):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            for column in range(int(x), int(x + numbers[0])):
                dark[int(y)][column] = True
            x += numbers[0]
    width = modules * PIXELS
    image = bytearray(b"\xff" * width * width)
    for row in range(modules):
        for column in range(modules):
            if dark[row][column]:
                for dy in range(PIXELS):
                    start = (row * PIXELS + dy) * width + column * PIXELS
                    image[start : start + PIXELS] = b"\x00" * PIXELS
    return memoryview(bytes(image)).cast("B", (width, width))


async def test_the_qr_code_decodes_to_the_document_which_verifies_offline(api: Api) -> None:
    issued = await issue(api)
    holder = api.tokens.make(Role.CITIZEN, id_number=city.STRANGER)
    body = await api.graphql(QR, {"id": issued["identifier"]}, token=holder)
    svg = body["data"]["certificate"]["qrCode"]
    assert svg.startswith("<svg")

    decoded = zxingcpp.read_barcode(rasterise(svg), formats=zxingcpp.BarcodeFormat.QRCode)

    assert decoded is not None and decoded.text == issued["document"] == body["data"]["certificate"]["document"]
    assert verify_offline(decoded.text, await published_keys(api))["identifier"] == issued["identifier"]
    assert len(decoded.text.encode()) < 1_400  # small enough for a version ~27 symbol at level M


async def test_a_counter_sees_no_qr_code_as_it_sees_no_document(api: Api) -> None:
    issued = await issue(api)
    body = await api.graphql(QR, {"id": issued["identifier"], "a": {"caseNumber": "XH-QR-1"}}, token=api.tokens.counter)
    assert body["data"]["certificate"] == {"document": None, "qrCode": None}
    assert codes_at(body, ["certificate", "qrCode"]) == ["FORBIDDEN"]
