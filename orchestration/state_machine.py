"""Load the deployed state-machine file with this environment's resource names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestration.asl import load_definition, substitute_placeholders
from orchestration.config import PipelineConfig

__all__ = ["DEFINITION_PATH", "load_pipeline_definition", "placeholder_values"]

DEFINITION_PATH = Path(__file__).with_name("state_machine.asl.json")


def placeholder_values(cfg: PipelineConfig, account: str = "000000000000",
                       region: str = "us-east-1") -> dict[str, str]:
    """The ``${Name}`` substitutions, identical for the local run and the deploy."""
    return {
        "RawCrawlerName": cfg.raw_crawler,
        "TransformCrawlerName": cfg.transform_crawler,
        "TransformJobName": cfg.transform_job,
        "LoadJobName": cfg.load_job,
        "AlertTopicArn": f"arn:aws:sns:{region}:{account}:{cfg.alert_topic}",
    }


def load_pipeline_definition(cfg: PipelineConfig) -> dict[str, Any]:
    definition = load_definition(DEFINITION_PATH)
    return substitute_placeholders(definition, placeholder_values(cfg))
