"""CDK app entry point: ``python -m infra.app --env dev [--out cdk.out]``.

Synthesizes without the CDK CLI (``app.synth()`` runs aws-cdk-lib on Node through
jsii) and without Docker (image assets are staged, not built). ``make deploy`` then
hands the cloud assembly to the pinned CDK CLI (``cdk deploy --app cdk.out``), which
builds and pushes the image and uploads the assets.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import aws_cdk as cdk

from infra.assets import REPO_ROOT, stage_all
from infra.config import EnvConfig, EnvConfigError, env_config
from infra.stack import UdpStack

__all__ = ["FEATURE_FLAGS", "build_app", "main"]

FEATURE_FLAGS: dict[str, bool] = {
    # Access-log delivery through a bucket policy, so every bucket can keep ACLs disabled.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    # IAM policies named after their role, minimised into as few statements as possible.
    "@aws-cdk/aws-iam:minimizePolicies": True,
    # CloudFormation resolves secrets at deploy time (no plaintext in the template).
    "@aws-cdk/aws-secretsmanager:useAttachedSecretResourcePolicyForSecretTargetAttachments":
        True,
}
"""CDK feature flags (what ``cdk init`` would write to ``cdk.json``), set in one place."""


def build_app(env_cfg: EnvConfig, outdir: Path, staging_dir: Path | None = None
              ) -> tuple[cdk.App, UdpStack]:
    """The CDK app with the environment's stack; call ``app.synth()`` to write ``outdir``."""
    staging = staging_dir or outdir / ".staging" / env_cfg.name
    assets = stage_all(staging)
    app = cdk.App(outdir=str(outdir), analytics_reporting=False, context=FEATURE_FLAGS)
    stack = UdpStack(app, env_cfg.stack_name, env_cfg=env_cfg, assets=assets,
                     env=cdk.Environment(account=env_cfg.account, region=env_cfg.region),
                     description=f"user-data pipeline ({env_cfg.name})",
                     termination_protection=env_cfg.removal_retain)
    return app, stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.app", description=__doc__)
    parser.add_argument("--env", default=os.environ.get("ENV", "dev"),
                        help="environment in infra/config.py (default: $ENV or dev)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "cdk.out",
                        help="cloud assembly folder (default: cdk.out)")
    args = parser.parse_args(argv)
    try:
        env_cfg = env_config(args.env)
    except EnvConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app, stack = build_app(env_cfg, args.out)
    app.synth()
    print(f"synthesized {stack.stack_name} ({env_cfg.account}/{env_cfg.region}) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
