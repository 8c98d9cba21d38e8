"""The deployed state-machine file, loaded with this environment's resource names.

One file, two consumers, one substitution:

* locally, :func:`load_pipeline_definition` reads :data:`DEFINITION_PATH`, replaces the
  ``${Name}`` placeholders in its *text* with :func:`placeholder_values` and hands the
  result to the executor, which records the sha256 of the file's bytes in each run;
* on AWS, the infrastructure reads the same file unchanged and passes the same names
  as ``DefinitionSubstitutions`` (CDK ``DefinitionBody.from_file`` +
  ``definition_substitutions``), which Step Functions substitutes the same way.

:func:`definition_sha256` is what both sides compare.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from contracts.pipeline import PipelineConfig
from orchestration.definition import LoadedDefinition, load_definition_file, render_definition

__all__ = [
    "DEFINITION_PATH",
    "PLACEHOLDER_NAMES",
    "definition_sha256",
    "load_pipeline_definition",
    "placeholder_values",
    "render_pipeline_definition",
]

DEFINITION_PATH = Path(__file__).with_name("state_machine.asl.json")
PLACEHOLDER_NAMES = frozenset({"RawCrawlerName", "TransformCrawlerName", "TransformJobName",
                               "LoadJobName", "AlertTopicArn", "LeaseTableName"})
"""The ``${Name}`` placeholders of :data:`DEFINITION_PATH`; the deploy must set each one."""


def placeholder_values(cfg: PipelineConfig, account: str = "000000000000",
                       region: str = "us-east-1") -> dict[str, str]:
    """The ``${Name}`` substitutions, identical for the local run and the deploy."""
    return {
        "RawCrawlerName": cfg.raw_crawler,
        "TransformCrawlerName": cfg.transform_crawler,
        "TransformJobName": cfg.transform_job,
        "LoadJobName": cfg.load_job,
        "AlertTopicArn": f"arn:aws:sns:{region}:{account}:{cfg.alert_topic}",
        "LeaseTableName": cfg.lease_table,
    }


def definition_sha256(path: Path = DEFINITION_PATH) -> str:
    """sha256 of the definition file's bytes (before any substitution)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render_pipeline_definition(cfg: PipelineConfig, account: str = "000000000000",
                               region: str = "us-east-1") -> str:
    """The definition text with placeholders substituted, as Step Functions receives it."""
    return render_definition(DEFINITION_PATH.read_text(encoding="utf-8"),
                             placeholder_values(cfg, account, region))


def load_pipeline_definition(cfg: PipelineConfig) -> LoadedDefinition:
    """The parsed definition the local executor runs (it remembers the file's sha256)."""
    return load_definition_file(DEFINITION_PATH, placeholder_values(cfg))

