"""Real files for the upload tests, made here (no fixtures on disk): good ones the checks accept and
the hostile corpus of issue 14 they must refuse or neutralise."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from PIL import Image


def pdf(*, catalog_extra: bytes = b"", extra_objects: tuple[bytes, ...] = (), text: str = "Passport scan") -> bytes:
    """A valid one-page PDF; ``catalog_extra`` is added to the catalog (e.g. an /OpenAction)."""
    stream = f"BT /F1 16 Tf 60 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *extra_objects,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def png(width: int = 240, height: int = 150, rgb: tuple[int, int, int] = (200, 210, 220), **info: str) -> bytes:
    """A real PNG; ``info`` becomes text chunks (metadata the viewing copy must not carry)."""
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    for key, value in info.items():
        meta.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


def jpeg(width: int = 200, height: int = 120, *, exif: bool = False) -> bytes:
    """A real JPEG; with ``exif``, camera metadata (a GPS position) the viewing copy must drop."""
    image = Image.new("RGB", (width, height), (120, 90, 60))
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "Phone maker"  # Make
        data[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}  # GPS
        image.save(out, format="JPEG", exif=data.tobytes())
    else:
        image.save(out, format="JPEG")
    return out.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A decompression bomb: a 30,000 x 30,000 grey PNG of about a megabyte (900 MB once decoded)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    rows = (b"\x00" + b"\x00" * width) * 1000
    idat = b"".join(compressor.compress(rows) for _ in range(height // 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


HTML = b"<html><body><script>alert(document.domain)</script></body></html>\n"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>'

# (name, bytes maker, file name): every one must be refused, nothing stored. Made when used (the
# bomb takes a moment to compress).
HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("pdf-html polyglot: html after %%EOF", lambda: pdf() + HTML, "statement.pdf"),
    ("pdf-html polyglot: html before %PDF-", lambda: HTML + pdf(), "statement.pdf"),
    ("pdf-html polyglot: html in a comment", lambda: pdf().replace(b"\n", b"\n%" + HTML, 1), "a.pdf"),
    ("jpeg-html polyglot: html after EOI", lambda: jpeg() + HTML, "selfie.jpg"),
    ("jpeg-html polyglot: html then a second EOI", lambda: jpeg() + HTML + b"\xff\xd9", "selfie.jpg"),
    ("png-html polyglot: html in a text chunk", lambda: png(Comment="<script>alert(1)</script>"), "bill.png"),
    ("png-html polyglot: html after IEND", lambda: png() + HTML, "bill.png"),
    ("png decompression bomb 30k x 30k", png_bomb, "bill.png"),
    (
        "pdf with /OpenAction /JavaScript",
        lambda: pdf(
            catalog_extra=b"/OpenAction 6 0 R",
            extra_objects=(b"<< /Type /Action /S /JavaScript /JS (app.alert(1)) >>",),
        ),
        "id.pdf",
    ),
    (
        "pdf with a hex-escaped /J#61vaScript name tree",
        lambda: pdf(
            catalog_extra=b"/Names << /J#61vaScript 6 0 R >>",
            extra_objects=(b"<< /Names [(x) << /S /J#61vaScript /J#53 (app.alert(1)) >>] >>",),
        ),
        "id.pdf",
    ),
    ("pdf with /Launch", lambda: pdf(catalog_extra=b"/OpenAction << /S /Launch /F (cmd.exe) >>"), "id.pdf"),
    (
        "pdf with /EmbeddedFiles",
        lambda: pdf(
            catalog_extra=b"/Names << /EmbeddedFiles 6 0 R >>",
            extra_objects=(b"<< /Names [(x.exe) << /Type /Filespec /F (x.exe) >>] >>",),
        ),
        "id.pdf",
    ),
    ("pdf with /AA", lambda: pdf(catalog_extra=b"/AA << /WC << /S /URI /URI (http://evil.invalid/) >> >>"), "id.pdf"),
    ("truncated pdf", lambda: pdf()[:300], "id.pdf"),
    ("pdf without pages or trailer", lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "id.pdf"),
    ("truncated png", lambda: png()[:120] + png()[-12:], "bill.png"),
    ("truncated jpeg", lambda: jpeg()[:200] + b"\xff\xd9", "selfie.jpg"),
    ("svg", lambda: SVG, "selfie.svg"),
    ("svg renamed .png", lambda: SVG, "selfie.png"),
    ("html renamed .pdf", lambda: HTML, "statement.pdf"),
    ("jpeg magic then html", lambda: b"\xff\xd8\xff\xe0" + HTML + b"\xff\xd9", "selfie.jpg"),
    ("png magic then zeros", lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "bill.png"),
]
