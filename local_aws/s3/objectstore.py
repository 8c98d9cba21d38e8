"""S3 twin: ``s3://bucket/key`` URIs resolved onto a folder (``<root>/<bucket>/<key>``).

Catalog locations, job arguments and state-machine inputs keep the exact ``s3://``
URIs production uses; only this class knows they live on a local disk.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LocalObjectStore"]


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path(self, uri: str) -> Path:
        """Local path of an ``s3://`` URI (a plain path or ``file://`` URI passes through)."""
        if uri.startswith("s3://"):
            bucket, _, key = uri[len("s3://"):].partition("/")
            if not bucket:
                raise ValueError(f"not an S3 URI: {uri!r}")
            return self.root / bucket / key
        if uri.startswith("file://"):
            return Path(uri[len("file://"):])
        return Path(uri)

    def uri(self, path: Path) -> str:
        """``s3://`` URI of a local path under the root."""
        rel = Path(path).resolve().relative_to(self.root)
        bucket, *rest = rel.parts
        key = "/".join(rest)
        return f"s3://{bucket}/{key}" + ("/" if Path(path).is_dir() and key else "")
