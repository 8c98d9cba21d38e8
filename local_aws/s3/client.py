"""S3 API twin (the subset the pipeline uses) over the local object store.

The bucket is unversioned, as a bucket without ``VersioningConfiguration`` is: an
overwrite or delete leaves no older version behind, so ``ListObjectVersions`` has
nothing a caller could purge and is not offered. ``PutObject`` honours S3's conditional
writes (``IfNoneMatch="*"``, ``IfMatch=<ETag>``) under a per-bucket lock, so two
writers of one key never both win.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from local_aws.aws_model import aws_shaped
from local_aws.files import TMP_PREFIX, atomic_write_bytes
from local_aws.s3.objectstore import LocalObjectStore

__all__ = ["LocalS3"]

_LOCK_NAME = ".s3-write.lock"


def _etag(body: bytes) -> str:
    """S3's ETag of a single-part upload: the MD5 of the bytes, quoted."""
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def _precondition_failed(operation: str, key: str) -> ClientError:
    return ClientError({"Error": {"Code": "PreconditionFailed",
                                  "Message": "At least one of the pre-conditions you "
                                             f"specified did not hold: {key}"},
                        "ResponseMetadata": {"HTTPStatusCode": 412}}, operation)


@aws_shaped("s3")
class LocalS3:
    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    @contextlib.contextmanager
    def _bucket_lock(self, bucket: str) -> Iterator[None]:
        root = self.store.path(f"s3://{bucket}/")
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, IfMatch: str | None = None,
                   IfNoneMatch: str | None = None, **_: Any) -> dict[str, Any]:
        """Write atomically (temp file + rename), as S3 never shows half an object; with
        ``IfNoneMatch="*"`` only when the key is absent, with ``IfMatch`` only when its
        current ETag is the one given (else ``PreconditionFailed``, as S3 answers)."""
        path = self.store.path(f"s3://{Bucket}/{Key}")
        if IfMatch is None and IfNoneMatch is None:
            atomic_write_bytes(path, Body)
            return {"ETag": _etag(Body)}
        with self._bucket_lock(Bucket):
            current = _etag(path.read_bytes()) if path.is_file() else None
            if IfNoneMatch is not None and current is not None:
                raise _precondition_failed("PutObject", Key)
            if IfMatch is not None and current != IfMatch:
                if current is None:
                    raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}},
                                      "PutObject")
                raise _precondition_failed("PutObject", Key)
            atomic_write_bytes(path, Body)
        return {"ETag": _etag(Body)}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        path = self.store.path(f"s3://{Bucket}/{Key}")
        if not path.is_file():
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}}, "GetObject")
        body = path.read_bytes()
        return {"Body": io.BytesIO(body), "ContentLength": len(body), "ETag": _etag(body)}

    def delete_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:
        """Delete the object (absent already: S3 answers the same 204). Empty folders
        left behind go too, as S3 has no folders to keep."""
        path = self.store.path(f"s3://{Bucket}/{Key}")
        root = self.store.path(f"s3://{Bucket}/")
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != root and parent.is_dir() and root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        return {}

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "") -> dict[str, Any]:
        root = self.store.path(f"s3://{Bucket}/")
        if not root.is_dir():
            return {"KeyCount": 0, "Contents": []}
        keys = sorted(
            str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(TMP_PREFIX) and p.name != _LOCK_NAME
        )
        contents = [{"Key": k, "Size": (root / k).stat().st_size}
                    for k in keys if k.startswith(Prefix)]
        return {"KeyCount": len(contents), "Contents": contents}
