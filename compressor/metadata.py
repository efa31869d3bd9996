"""What metadata an output carries (issue 15): `metadata=none|copyright|keep|all`.

- `none` (default): nothing; the pixels are converted to sRGB (what browsers assume).
- `copyright`: EXIF Artist and Copyright, and from XMP dc:creator, dc:rights and
  photoshop:Credit; nothing else, so no location, camera or serial number.
- `keep`: the EXIF block without its GPS directory and without what identifies a camera or
  its owner (serial numbers, owner name, unique id, the maker note, which holds serials), and
  the ICC profile itself instead of converting to sRGB. XMP is dropped: it can repeat the GPS
  position in free form.
- `all`: EXIF as it came, GPS and serials too (the tenant asked for it by name), and the ICC
  profile.
Orientation is always written as 1: the pixels are turned upright before encoding, and the
embedded thumbnail (IFD1) is never copied (it would show the uncropped original).

The blocks are written into the encoded file afterwards (JPEG: APP1/APP2 segments; WebP: the
RIFF chunks of its extended format) or, for AVIF and JPEG XL, whose containers libavif and
libjxl write, handed to their encoders (the JPEG XL plugin writes no ICC profile: with
`keep`/`all` its pixels are converted to sRGB like `none`'s). Pure: bytes in, bytes out.
"""

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from PIL import Image

from shared.rules import Format, MetadataMode

_ARTIST, _COPYRIGHT, _ORIENTATION = 0x013B, 0x8298, 0x0112
_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
# Exif sub-IFD tags that identify a camera or its owner.
_IDENTIFYING = (
    0xA430,  # CameraOwnerName
    0xA431,  # BodySerialNumber
    0xA435,  # LensSerialNumber
    0xA420,  # ImageUniqueID
    0x927C,  # MakerNote: vendor blocks, serial numbers among them
)
_XMP_KEPT = {
    "http://purl.org/dc/elements/1.1/": ("creator", "rights"),
    "http://ns.adobe.com/photoshop/1.0/": ("Credit",),
}
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_ICC_MARKER = b"ICC_PROFILE\0"
_ICC_CHUNK = 65_519  # bytes of profile per APP2 segment (65,535 - 2 - 14)


@dataclass(frozen=True)
class Carried:
    """The metadata blocks an output will carry (None: that block is left out)."""

    exif: bytes | None = None  # TIFF-structured, without the "Exif\0\0" prefix
    xmp: bytes | None = None
    icc: bytes | None = None

    def __bool__(self) -> bool:
        return any((self.exif, self.xmp, self.icc))


def keeps_profile(mode: MetadataMode) -> bool:
    """Whether the source's ICC profile is kept (so its pixels are not converted to sRGB)."""
    return mode in ("keep", "all")


def carried(im: Image.Image, icc: bytes | None, mode: MetadataMode) -> Carried:
    """The blocks to write for `mode`, from the decoded source (before it was converted)."""
    if mode == "none":
        return Carried()
    exif = _exif_of(im)
    if mode == "copyright":
        kept = Image.Exif()
        for tag in (_ARTIST, _COPYRIGHT):
            if exif is not None and _text(exif.get(tag)):
                kept[tag] = exif[tag]
        return Carried(exif=_exif_bytes(kept) if len(kept) else None, xmp=_xmp_credits(im))
    profile = icc if im.mode != "CMYK" else None  # a CMYK profile fits no RGB output
    if exif is None:
        return Carried(icc=profile)
    if mode == "keep":
        exif.pop(_GPS_IFD, None)  # the directory's pointer: Pillow then drops its entries
        sub = exif.get_ifd(_EXIF_IFD)
        for tag in _IDENTIFYING:
            sub.pop(tag, None)
    exif[_ORIENTATION] = 1
    return Carried(exif=_exif_bytes(exif), icc=profile)


def into_jpeg(data: bytes, blocks: Carried) -> bytes:
    """The JPEG with the blocks as APP1 (Exif, XMP) and APP2 (ICC) segments after SOI (and
    after a JFIF APP0)."""
    if not blocks:
        return data
    at = 2
    if data[2:4] == b"\xff\xe0":  # JFIF first, as its specification asks
        at = 4 + struct.unpack(">H", data[4:6])[0]
    segments = b""
    if blocks.exif:
        segments += _segment(0xE1, b"Exif\0\0" + blocks.exif)
    if blocks.xmp:
        segments += _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + blocks.xmp)
    if blocks.icc:
        chunks = [blocks.icc[i : i + _ICC_CHUNK] for i in range(0, len(blocks.icc), _ICC_CHUNK)]
        for n, chunk in enumerate(chunks, 1):
            segments += _segment(0xE2, _ICC_MARKER + bytes([n, len(chunks)]) + chunk)
    return data[:at] + segments + data[at:]


def into_webp(data: bytes, width: int, height: int, blocks: Carried) -> bytes:
    """A simple (VP8 or VP8L) WebP rewritten in the extended format with ICCP, EXIF and XMP
    chunks (RIFF, as libwebp's webpmux writes them)."""
    if not blocks:
        return data
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or data[12:16] not in (b"VP8 ", b"VP8L"):
        raise ValueError("expected a simple lossy or lossless WebP")
    image = data[12:]
    flags = (0x20 if blocks.icc else 0) | (0x08 if blocks.exif else 0)
    flags |= 0x04 if blocks.xmp else 0
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + _chunk(b"VP8X", bytes([flags, 0, 0, 0]) + size)
    if blocks.icc:
        body += _chunk(b"ICCP", blocks.icc)
    body += image
    if blocks.exif:
        body += _chunk(b"EXIF", blocks.exif)
    if blocks.xmp:
        body += _chunk(b"XMP ", blocks.xmp)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# Formats whose container the codec library writes: their encoders take the blocks.
IN_BAND: tuple[Format, ...] = ("avif", "jxl")


def encoder_params(blocks: Carried) -> dict[str, bytes]:
    """The blocks as Pillow's AVIF and JPEG XL encoders take them (libavif and libjxl write
    their own containers)."""
    params = {"exif": blocks.exif, "xmp": blocks.xmp, "icc_profile": blocks.icc}
    return {name: value for name, value in params.items() if value}


def _exif_of(im: Image.Image) -> Image.Exif | None:
    try:
        exif = im.getexif()
        exif.get_ifd(_EXIF_IFD)  # read the sub-IFD now: a broken one fails here, not later
    except (OSError, SyntaxError, ValueError, TypeError, struct.error):
        return None  # a damaged EXIF block carries nothing
    return exif if len(exif) else None


def _exif_bytes(exif: Image.Exif) -> bytes:
    return exif.tobytes()[6:]  # without the "Exif\0\0" that Pillow puts first


def _text(value: object) -> str:
    """An EXIF text field as a person reads it: NUL padding and spaces dropped."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value or "").replace("\0", "").strip()


def _xmp_credits(im: Image.Image) -> bytes | None:
    """A minimal XMP packet with the source's dc:creator, dc:rights and photoshop:Credit."""
    raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if not raw:
        return None
    try:
        root = ET.fromstring(raw.encode() if isinstance(raw, str) else raw)
    except ET.ParseError:
        return None
    description = ET.Element(f"{{{_RDF}}}Description", {f"{{{_RDF}}}about": ""})
    for namespace, names in _XMP_KEPT.items():
        for name in names:
            for found in root.iter(f"{{{namespace}}}{name}"):
                description.append(found)
            for described in root.iter(f"{{{_RDF}}}Description"):  # attribute form
                if (value := described.get(f"{{{namespace}}}{name}")) is not None:
                    description.set(f"{{{namespace}}}{name}", value)
    if not len(description) and len(description.attrib) == 1:
        return None
    rdf = ET.Element(f"{{{_RDF}}}RDF")
    rdf.append(description)
    meta = ET.Element("{adobe:ns:meta/}xmpmeta")
    meta.append(rdf)
    return bytes(ET.tostring(meta, encoding="utf-8"))


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > 65_533:
        raise ValueError(f"a JPEG segment holds at most 65,533 bytes, got {len(payload)}")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _chunk(kind: bytes, payload: bytes) -> bytes:
    padding = b"\0" if len(payload) % 2 else b""
    return kind + struct.pack("<I", len(payload)) + payload + padding
