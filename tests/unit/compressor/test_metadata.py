"""metadata=none|copyright|keep|all (compressor/metadata.py), field by field, on real photos.

The photos are real camera files (tests/data/exif: Canon, Casio and Olympus JPEGs from the
piexif project, MIT) whose EXIF blocks carry maker notes, owner names and serial numbers;
the Canon's empty Artist, Copyright and GPS fields are filled in here (a real camera's block
with a photographer's values), and the corpus's Hubble photo brings an ICC profile and XMP.
Every output format is read back with Pillow.
"""

import io
from pathlib import Path

import pillow_jxl
import pytest
from PIL import Image

from compressor.compress import compress, supported_formats
from compressor.metadata import Carried, into_jpeg, into_webp
from shared.rules import Format, MetadataMode

DATA = Path(__file__).resolve().parents[2] / "data" / "exif"
CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"
LIMIT = 64_000_000
ARTIST, COPYRIGHT, MAKE, ORIENTATION = 0x013B, 0x8298, 0x010F, 0x0112
GPS, EXIF = 0x8825, 0x8769
OWNER, BODY_SERIAL, MAKER_NOTE = 0xA430, 0xA431, 0x927C
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:Credit="Example Wire" '
    'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="51,30.0N">'
    "<dc:creator><rdf:Seq><rdf:li>Jane Photographer</rdf:li></rdf:Seq></dc:creator>"
    '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">(c) 2026 Example Studio</rdf:li>'
    "</rdf:Alt></dc:rights></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def canon_with_credits() -> bytes:
    """The Canon's own EXIF block, with its photographer's fields, a position and a serial."""
    with Image.open(DATA / "r_canon.jpg") as im:
        exif = im.getexif()
        exif[ARTIST], exif[COPYRIGHT] = "Jane Photographer", "(c) 2026 Example Studio"
        exif[ORIENTATION] = 6  # shown turned: the output's pixels are, its tag says 1
        gps = exif.get_ifd(GPS)
        gps.update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 30.0)})
        exif.get_ifd(EXIF)[OWNER] = "Jane"
        out = io.BytesIO()
        im.save(out, "JPEG", quality=95, exif=exif.tobytes(), xmp=XMP.encode())
    return out.getvalue()


def outputs() -> list[Format]:
    return list(supported_formats())


def read(data: bytes) -> tuple[Image.Exif, dict[str, object]]:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        info = dict(im.info)
        if im.format == "JXL":  # libjxl describes the image's colour space as a profile, and
            info.pop("icc_profile", None)  # the plugin reads no XMP box back: read it here
            boxes = pillow_jxl.Decoder(num_threads=1)(data)[4]
            info |= [("xmp", box.data) for box in boxes if box.box_type == b"xml "]
        return im.getexif(), info


@pytest.mark.parametrize("output", outputs())
def test_none_carries_nothing(output: Format) -> None:
    done = compress(canon_with_credits(), 50, max_pixels=LIMIT, format=output)
    exif, info = read(done.data)
    assert not len(exif) and not info.get("xmp") and not info.get("icc_profile")


@pytest.mark.parametrize("output", outputs())
def test_copyright_keeps_the_credits_and_nothing_else(output: Format) -> None:
    done = compress(canon_with_credits(), 50, max_pixels=LIMIT, format=output, metadata="copyright")
    exif, info = read(done.data)
    assert dict(exif) == {ARTIST: "Jane Photographer", COPYRIGHT: "(c) 2026 Example Studio"}
    xmp = info["xmp"]
    xmp = xmp.decode() if isinstance(xmp, bytes) else str(xmp)
    for kept in ("Jane Photographer", "(c) 2026 Example Studio", "Example Wire"):
        assert kept in xmp
    assert "GPS" not in xmp and "51,30" not in xmp


@pytest.mark.parametrize("output", outputs())
def test_keep_drops_the_position_and_what_identifies_the_camera(output: Format) -> None:
    done = compress(canon_with_credits(), 50, max_pixels=LIMIT, format=output, metadata="keep")
    exif, info = read(done.data)
    assert exif[MAKE] == "Canon" and exif[ARTIST] == "Jane Photographer"
    assert exif.get(ORIENTATION, 1) == 1  # the pixels are upright already
    assert (done.width, done.height) == (80, 80)
    assert GPS not in exif and not exif.get_ifd(GPS)
    sub = exif.get_ifd(EXIF)
    assert sub and not {OWNER, BODY_SERIAL, MAKER_NOTE} & set(sub)
    assert not info.get("xmp")  # XMP can repeat the position in free form


def test_keep_drops_a_real_cameras_serial_number() -> None:
    source = (DATA / "r_casio.jpg").read_bytes()
    assert BODY_SERIAL in read(source)[0].get_ifd(EXIF)  # the Casio records its own
    exif, _ = read(compress(source, 50, max_pixels=LIMIT, metadata="keep").data)
    assert exif[MAKE].startswith("CASIO") and BODY_SERIAL not in exif.get_ifd(EXIF)


@pytest.mark.parametrize("output", outputs())
def test_all_keeps_the_position_and_serials_when_asked_by_name(output: Format) -> None:
    done = compress(canon_with_credits(), 50, max_pixels=LIMIT, format=output, metadata="all")
    exif, _ = read(done.data)
    assert exif.get_ifd(GPS)[1] == "N" and exif.get_ifd(EXIF)[OWNER] == "Jane"
    assert exif.get(ORIENTATION, 1) == 1


@pytest.mark.skipif(not (CORPUS / "hubble_deep_field_1000x872.jpg").exists(), reason="no corpus")
@pytest.mark.parametrize("mode", ["keep", "all", "none"])
def test_keep_carries_the_icc_profile_instead_of_converting(mode: MetadataMode) -> None:
    source = (CORPUS / "hubble_deep_field_1000x872.jpg").read_bytes()
    profile = read(source)[1]["icc_profile"]
    _, info = read(compress(source, 50, max_pixels=LIMIT, metadata=mode).data)
    assert info.get("icc_profile") == (None if mode == "none" else profile)


def test_the_segments_and_chunks_read_back() -> None:
    blocks = Carried(exif=b"MM\0*\0\0\0\x08\0\0\0\0\0\0", xmp=b"<x/>", icc=b"\x01" * 70_000)
    jpeg = into_jpeg(compress(canon_with_credits(), 50, max_pixels=LIMIT).data, blocks)
    assert read(jpeg)[1]["icc_profile"] == blocks.icc  # split over two APP2 segments
    webp = compress(canon_with_credits(), 50, max_pixels=LIMIT, format="webp").data
    _, info = read(into_webp(webp, 80, 80, blocks))
    assert info["icc_profile"] == blocks.icc and info["xmp"] == blocks.xmp


def test_a_size_ceiling_counts_the_metadata() -> None:
    plain = compress(canon_with_credits(), 90, max_pixels=LIMIT, metadata="all")
    capped = compress(
        canon_with_credits(), 90, max_pixels=LIMIT, metadata="all", max_bytes=len(plain.data) - 1
    )
    assert len(capped.data) < len(plain.data) and capped.quality < 90
    assert read(capped.data)[0].get_ifd(GPS)
