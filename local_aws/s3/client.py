"""S3 API twin (the subset the pipeline uses) over the local object store."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from local_aws.aws_model import aws_shaped
from local_aws.files import TMP_PREFIX, atomic_write_bytes
from local_aws.s3.objectstore import LocalObjectStore

__all__ = ["LocalS3"]


@aws_shaped("s3")
class LocalS3:
    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        """Write atomically (temp file + rename), as S3 never shows half an object."""
        path = self.store.path(f"s3://{Bucket}/{Key}")
        atomic_write_bytes(path, Body)
        return {"ETag": f'"{len(Body)}"'}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        path = self.store.path(f"s3://{Bucket}/{Key}")
        if not path.is_file():
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}}, "GetObject")
        return {"Body": path.open("rb"), "ContentLength": path.stat().st_size}

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "") -> dict[str, Any]:
        root = self.store.path(f"s3://{Bucket}/")
        if not root.is_dir():
            return {"KeyCount": 0, "Contents": []}
        keys = sorted(
            str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(TMP_PREFIX)
        )
        contents = [{"Key": k, "Size": (root / k).stat().st_size}
                    for k in keys if k.startswith(Prefix)]
        return {"KeyCount": len(contents), "Contents": contents}
