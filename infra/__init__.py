"""Infrastructure as code: the AWS CDK (Python) app deploying the whole pipeline."""

import os

# jsii prints a large banner in every process on Node 20 (end of life 2026-10); the
# synthesized output does not depend on it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
