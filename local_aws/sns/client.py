"""SNS twin: ``publish`` records each message as one JSON line per topic under a folder.

``<root>/<topic-name>.jsonl`` holds one object per alert (message id, topic ARN,
subject, message, timestamp), readable by tests and by a person with ``cat``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_aws.aws_model import aws_shaped

__all__ = ["InvalidParameterError", "LocalSns", "topic_name"]

_MAX_SUBJECT = 100
_MAX_MESSAGE_BYTES = 256 * 1024


class InvalidParameterError(ValueError):
    """The request would be rejected by SNS (``InvalidParameter``)."""


def topic_name(topic_arn: str) -> str:
    """The topic name of an ARN ``arn:aws:sns:<region>:<account>:<name>``."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not parts[5]:
        raise InvalidParameterError(f"not an SNS topic ARN: {topic_arn!r}")
    return parts[5]


@aws_shaped("sns")
class LocalSns:
    """A local, file-backed stand-in for the SNS ``Publish`` API."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def publish(self, *, TopicArn: str, Message: str, Subject: str | None = None,
                **_: Any) -> dict[str, str]:
        """Record one message; same keyword names and limits as boto3 ``sns.publish``."""
        name = topic_name(TopicArn)
        if not isinstance(Message, str) or not Message:
            raise InvalidParameterError("Message must be a non-empty string")
        if len(Message.encode("utf-8")) > _MAX_MESSAGE_BYTES:
            raise InvalidParameterError("Message is longer than 256 KiB")
        if Subject is not None and (len(Subject) > _MAX_SUBJECT or "\n" in Subject):
            raise InvalidParameterError("Subject must be one line of at most 100 characters")
        message_id = str(uuid.uuid4())
        record = {
            "MessageId": message_id,
            "TopicArn": TopicArn,
            "Subject": Subject,
            "Message": Message,
            "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / f"{name}.jsonl", "a", encoding="utf-8",  # owner-only
                      opener=lambda f, fl: os.open(f, fl, 0o600)) as fh:
                fh.write(json.dumps(record) + "\n")
        return {"MessageId": message_id}

    def messages(self, topic_arn: str | None = None) -> list[dict[str, Any]]:
        """Every recorded message (of one topic, or of all topics), oldest first."""
        if topic_arn is not None:
            files = [self.root / f"{topic_name(topic_arn)}.jsonl"]
        else:
            files = sorted(self.root.glob("*.jsonl")) if self.root.is_dir() else []
        out: list[dict[str, Any]] = []
        for path in files:
            if path.is_file():
                lines = path.read_text("utf-8").splitlines()
                out.extend(json.loads(line) for line in lines if line)
        return sorted(out, key=lambda m: m["Timestamp"])
