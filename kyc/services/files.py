"""What an uploaded document really is, checked by decoding it, not by its first bytes or its name.

- Images (PNG, JPEG) are decoded by Pillow after a pixel-count check made from the header alone, so a
  decompression bomb (a 30,000 x 30,000 PNG of a few KB) is refused before any pixel is allocated.
  The copy shown to reviewers is re-encoded from the pixels: no metadata (EXIF, GPS, comments, ICC),
  nothing that was hidden beside the picture. It must decode again to the same size (round trip).
- PDFs are parsed by pypdf; an unparsable PDF, one with active content (JavaScript, an open action,
  a launch action, embedded files, forms that submit) or one with anything after its last ``%%EOF``
  is refused. A checked PDF is shown as uploaded (re-writing it would change what was submitted).
- Either way the file must hold nothing that a browser could take for HTML (a polyglot), and the
  original bytes are kept as the evidence of what the client sent (their sha256 is audited).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from kyc import errors
from kyc.errors import KycError

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
# Accepted types, told apart by their first bytes, never by the file name; then decoded.
MAGIC = [(b"%PDF-", PDF), (b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG)]
PILLOW_FORMAT = {JPEG: "JPEG", PNG: "PNG"}
KIND = {PDF: "PDF", JPEG: "JPEG image", PNG: "PNG image"}

# What a browser would render as a page, wherever it sits in the bytes.
# (Long tags only: a few random bytes of compressed data must not look like one.)
_HTML = re.compile(rb"<(html|script|iframe|body|object|embed)[\s>/]|<!doctype\s+html", re.I)
# PDF keys that make a document do something when opened or clicked, rather than be read.
ACTIVE_KEYS = {
    "/JavaScript": "JavaScript",
    "/JS": "JavaScript",
    "/OpenAction": "an action run when it opens",
    "/AA": "actions run on events",
    "/Launch": "a launch action",
    "/EmbeddedFile": "an embedded file",
    "/EmbeddedFiles": "embedded files",
    "/RichMedia": "rich media",
    "/XFA": "an XFA form",
    "/SubmitForm": "a form that submits",
    "/ImportData": "a data import action",
}
# In the raw bytes only the long names (the short /JS and /AA would turn up in compressed data by
# chance); the object walk below finds every key, inside compressed object streams too.
_ACTIVE_RAW = re.compile(rb"/(" + b"|".join(k[1:].encode() for k in ACTIVE_KEYS if len(k) > 6) + rb")(?![A-Za-z0-9#])")
_MAX_PDF_OBJECTS = 200_000  # walking more than this is refused rather than let run


@dataclass(frozen=True)
class CheckedFile:
    content_type: str
    sha256: str  # of the original bytes, kept as evidence
    view: bytes | None  # the re-encoded copy reviewers see; None: the checked original is shown


def sniff(head: bytes) -> str | None:
    return next((content_type for magic, content_type in MAGIC if head.startswith(magic)), None)


def check_upload(upload: UploadedFile) -> CheckedFile:
    """The checked file; raises KycError (field "file") naming what is wrong otherwise."""
    size = upload.size or 0
    if size == 0:
        raise KycError(errors.EMPTY_FILE, "file")
    if size > settings.KYC_MAX_UPLOAD_BYTES:
        raise KycError(errors.TOO_LARGE.format(size=size, limit=settings.KYC_MAX_UPLOAD_BYTES), "file")
    upload.seek(0)
    data = upload.read(settings.KYC_MAX_UPLOAD_BYTES + 1)
    upload.seek(0)
    if len(data) > settings.KYC_MAX_UPLOAD_BYTES:  # the declared size was wrong
        raise KycError(errors.TOO_LARGE.format(size=len(data), limit=settings.KYC_MAX_UPLOAD_BYTES), "file")
    content_type = sniff(data[:16])
    if content_type is None:
        raise KycError(errors.BAD_TYPE, "file")
    if _HTML.search(data):
        raise KycError(errors.POLYGLOT.format(kind=KIND[content_type]), "file")
    view = None
    if content_type == PDF:
        _check_pdf(data)
    else:
        view = _reencode_image(data, content_type)
    return CheckedFile(content_type=content_type, sha256=hashlib.sha256(data).hexdigest(), view=view)


# --- PDF ------------------------------------------------------------------------------------------


def _check_pdf(data: bytes) -> None:
    end = data.rfind(b"%%EOF")
    if end < 0:
        raise KycError(errors.UNREADABLE_PDF, "file")  # truncated: a PDF ends with %%EOF
    if data[end + 5 :].strip(b"\r\n\t\f \x00"):
        raise KycError(errors.POLYGLOT.format(kind="PDF"), "file")
    raw = _ACTIVE_RAW.search(data)
    if raw is not None:
        raise KycError(errors.ACTIVE_PDF.format(what=ACTIVE_KEYS["/" + raw.group(1).decode()]), "file")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise KycError(errors.ENCRYPTED_PDF, "file")
        if len(reader.pages) < 1:
            raise KycError(errors.UNREADABLE_PDF, "file")
        found = _active_content(reader.trailer)  # names inside compressed object streams too
    except KycError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError):
        raise KycError(errors.UNREADABLE_PDF, "file") from None
    if found:
        raise KycError(errors.ACTIVE_PDF.format(what=ACTIVE_KEYS[found]), "file")


def _active_content(root: Any) -> str | None:
    """The first active key reachable from the trailer (every object a viewer could reach)."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            key = (node.idnum, node.generation)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > _MAX_PDF_OBJECTS:
                raise KycError(errors.UNREADABLE_PDF, "file")
            node = node.get_object()
        if isinstance(node, DictionaryObject):
            for name, value in node.items():
                if name in ACTIVE_KEYS:
                    return str(name)
                if isinstance(value, NameObject) and value in ACTIVE_KEYS:  # /S /JavaScript
                    return str(value)
                stack.append(value)
        elif isinstance(node, ArrayObject):
            stack.extend(node)
    return None


# --- images ---------------------------------------------------------------------------------------


def _reencode_image(data: bytes, content_type: str) -> bytes:
    kind = KIND[content_type]
    if not _ends_cleanly(data, content_type):
        raise KycError(errors.POLYGLOT.format(kind=kind), "file")
    limit = settings.KYC_MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data), formats=[PILLOW_FORMAT[content_type]]) as image:
            width, height = image.size  # from the header: nothing decoded yet
            if width * height > limit:
                raise KycError(errors.TOO_MANY_PIXELS.format(limit=limit), "file")
            image.load()
            pixels = ImageOps.exif_transpose(image)  # keep the orientation the camera recorded
            mode = "RGBA" if "A" in pixels.mode or "transparency" in pixels.info else "RGB"
            if pixels.mode in ("L", "RGB") or (mode == "RGBA" and pixels.mode == "RGBA"):
                mode = pixels.mode
            pixels = pixels.convert(mode)
            if content_type == JPEG and pixels.mode == "RGBA":
                pixels = pixels.convert("RGB")
            # a new image from the pixels alone: no EXIF, XMP, ICC, text chunks or comments
            clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
        out = io.BytesIO()
        if content_type == JPEG:
            clean.save(out, format="JPEG", quality=90)
        else:
            clean.save(out, format="PNG")
        view = out.getvalue()
        with Image.open(io.BytesIO(view)) as again:  # the copy must decode to the same picture size
            again.load()
            if again.size != clean.size:
                raise KycError(errors.UNREADABLE_IMAGE.format(kind=kind), "file")
    except KycError:
        raise
    except Image.DecompressionBombError:  # Pillow's own, far higher limit, checked when it opens
        raise KycError(errors.TOO_MANY_PIXELS.format(limit=limit), "file") from None
    except (OSError, SyntaxError, ValueError, MemoryError):
        raise KycError(errors.UNREADABLE_IMAGE.format(kind=kind), "file") from None
    return view


_PNG_END = b"IEND\xaeB`\x82"


def _ends_cleanly(data: bytes, content_type: str) -> bool:
    """Nothing after the image's own end marker (where a JPEG/HTML polyglot keeps its page)."""
    if content_type == PNG:
        return data.endswith(_PNG_END)
    return data.rstrip(b"\x00\r\n")[-2:] == b"\xff\xd9"
