"""A row's images: the slots of its URLs, each as its outcome document says or pending."""

from typing import Any

from shared.db.images import images_of
from shared.records import RowRecord
from shared.status import ImageStatus

RID = "e6ffb05b235749b081bb556eda014c40"
Doc = dict[str, Any]


def row(index: int, urls: tuple[str, ...] = ()) -> RowRecord:
    return RowRecord(
        id=f"{RID}:{index}",
        request_id=RID,
        index=index,
        serial=str(index + 1),
        product=f"Product {index + 1}",
        cells=(str(index + 1), f"Product {index + 1}", ", ".join(urls)),
        urls=urls,
    )


def doc(index: int, slot: int, status: str, **fields: Any) -> tuple[tuple[int, int], Doc]:
    place = {"_id": f"{RID}.{index}.{slot}", "request_id": RID, "row": index, "slot": slot}
    return (index, slot), {**place, "status": status, **fields}


def test_a_row_nothing_finished_in_is_its_urls_pending() -> None:
    images = images_of(row(3, ("https://a/1.jpg", "https://a/2.jpg")), {})

    assert [(i.id, i.slot, i.url, i.status) for i in images] == [
        (f"{RID}.3.0", 0, "https://a/1.jpg", ImageStatus.PENDING),
        (f"{RID}.3.1", 1, "https://a/2.jpg", ImageStatus.PENDING),
    ]
    assert all(i.request_id == RID and i.row == 3 for i in images)


def test_a_finished_slot_is_its_document_with_the_rows_url() -> None:
    docs = dict([doc(0, 1, "done", compressed_key=f"{RID}/0-1.jpg", bytes_out=10)])

    images = images_of(row(0, ("https://a/1.jpg", "https://a/2.jpg", "https://a/3.jpg")), docs)

    assert [i.status for i in images] == ["pending", "done", "pending"]
    assert images[1].url == "https://a/2.jpg"  # finished documents do not keep it
    assert (images[1].compressed_key, images[1].bytes_out) == (f"{RID}/0-1.jpg", 10)


def test_a_failed_slot_keeps_its_reason() -> None:
    docs = dict([doc(1, 0, "failed", error="HTTP 404")])

    (image,) = images_of(row(1, ("https://a/gone.jpg",)), docs)

    assert (image.status, image.error) == (ImageStatus.FAILED, "HTTP 404")


def test_a_row_stored_before_rows_kept_urls_is_its_documents() -> None:
    docs = dict(
        [
            doc(2, 0, "pending", url="https://old/0.jpg"),
            doc(2, 1, "done", url="https://old/1.jpg", compressed_key=f"{RID}/2-1.jpg"),
        ]
    )

    images = images_of(row(2), docs)

    assert [(i.slot, i.url, i.status) for i in images] == [
        (0, "https://old/0.jpg", ImageStatus.PENDING),
        (1, "https://old/1.jpg", ImageStatus.DONE),
    ]


def test_only_the_rows_own_documents_count() -> None:
    docs = dict([doc(4, 0, "done"), doc(5, 0, "failed", error="x")])

    assert images_of(row(6), docs) == []
    assert [i.status for i in images_of(row(5, ("https://a/5.jpg",)), docs)] == ["failed"]
