"""The erasure state machine (``erasure.asl.json``), loaded with this environment's names.

Input ``{"user_ids": [...]}`` or ``{"ids_key": "_erasure/incoming/<file>"}`` (a file in
the lake bucket, one id a line). Each Glue task runs one step of the erasure job
(``glue_jobs.erasure_steps``); the deploy passes :func:`erasure_placeholder_values` as
``DefinitionSubstitutions``, the local executor substitutes the same names in the text.
"""

from __future__ import annotations

from pathlib import Path

from contracts.pipeline import PipelineConfig
from orchestration.definition import LoadedDefinition, load_definition_file

__all__ = ["DAY_STATE", "ERASURE_DEFINITION", "ERASURE_PLACEHOLDERS", "aws_input",
           "erasure_placeholder_values", "load_erasure_definition"]

ERASURE_DEFINITION = Path(__file__).with_name("erasure.asl.json")
DAY_STATE = "EraseEachDay"
"""The Map state whose ``ItemProcessor`` erases one day under its lease."""
ERASURE_PLACEHOLDERS = frozenset({"EraseJobName", "LeaseTableName", "LakeBucketName",
                                  "AlertTopicArn"})


def erasure_placeholder_values(cfg: PipelineConfig, account: str = "000000000000",
                               region: str = "us-east-1") -> dict[str, str]:
    return {"EraseJobName": cfg.erase_job, "LeaseTableName": cfg.lease_table,
            "LakeBucketName": cfg.lake_bucket,
            "AlertTopicArn": f"arn:aws:sns:{region}:{account}:{cfg.alert_topic}"}


def load_erasure_definition(cfg: PipelineConfig) -> LoadedDefinition:
    """``erasure.asl.json`` as deployed (placeholders substituted)."""
    return load_definition_file(ERASURE_DEFINITION, erasure_placeholder_values(cfg))


def aws_input(user_ids: list[str] | None = None, ids_key: str | None = None
              ) -> dict[str, object]:
    """The ``udp-erase`` execution input: the ids, or the key of an ids file."""
    if (user_ids is None) == (ids_key is None):
        raise ValueError("give either user_ids or ids_key")
    return {"user_ids": list(user_ids)} if user_ids is not None else {"ids_key": ids_key}
