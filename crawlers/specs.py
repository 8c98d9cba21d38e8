"""Crawler specs as data: one definition read by the local crawler and by the infrastructure.

A :class:`CrawlerSpec` holds what a Glue crawler is configured with (targets, database,
table prefix, RecrawlPolicy, SchemaChangePolicy, grouping). :meth:`CrawlerSpec.validate`
rejects what AWS rejects, with AWS's wording where AWS has one, and
:meth:`CrawlerSpec.to_create_crawler_kwargs` renders the boto3 ``create_crawler`` call.

Each S3 target is one table: the table sits at the target folder (Glue's
``Grouping.TableLevelConfiguration`` = the folder's absolute level, the bucket being
level 1) and is named ``table_prefix`` + the target's last folder name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contracts.locations import STAGING_DIR
from contracts.pipeline import PipelineConfig
from contracts.tables import DQ_RESULTS

__all__ = [
    "DELETE_BEHAVIORS",
    "RECRAWL_BEHAVIORS",
    "UPDATE_BEHAVIORS",
    "CrawlerSpec",
    "CrawlerSpecError",
    "default_specs",
    "split_s3_uri",
]

RECRAWL_BEHAVIORS = ("CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY")
UPDATE_BEHAVIORS = ("LOG", "UPDATE_IN_DATABASE")
DELETE_BEHAVIORS = ("LOG", "DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE")
_AWS_RECRAWL = (*RECRAWL_BEHAVIORS, "CRAWL_EVENT_MODE")

NEW_FOLDERS_ONLY_MESSAGE = (
    'The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target can have only '
    "LOG DeleteBehavior value and LOG UpdateBehavior value."
)


class CrawlerSpecError(ValueError):
    """A crawler definition AWS (or the local crawler) would reject."""


def split_s3_uri(uri: str) -> tuple[str, list[str]]:
    """``s3://bucket/a/b/`` → ``("bucket", ["a", "b"])``; raises CrawlerSpecError."""
    if not uri.startswith("s3://"):
        raise CrawlerSpecError(f"crawler target {uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise CrawlerSpecError(f"crawler target {uri!r} has no bucket")
    return bucket, [p for p in key.split("/") if p]


def _enum_error(value: str, member: str, allowed: tuple[str, ...]) -> CrawlerSpecError:
    return CrawlerSpecError(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")


@dataclass(frozen=True)
class CrawlerSpec:
    """One Glue crawler over S3 Parquet targets (Glue's defaults where AWS has one).

    ``table_level`` is Glue's ``TableLevelConfiguration``; ``None`` derives it from
    the targets (they must then share one depth). ``partitions_inherit_from_table``
    sets ``CrawlerOutput.Partitions.AddOrUpdateBehavior = InheritFromTable``.
    """

    name: str
    database: str
    targets: tuple[str, ...]
    table_prefix: str = ""
    recrawl_policy: str = "CRAWL_EVERYTHING"
    update_behavior: str = "UPDATE_IN_DATABASE"
    delete_behavior: str = "DEPRECATE_IN_DATABASE"
    table_level: int | None = None
    table_grouping_policy: str = "CombineCompatibleSchemas"
    partitions_inherit_from_table: bool = True
    exclusions: tuple[str, ...] = ()
    description: str = ""
    schedule: str | None = None

    def validate(self) -> CrawlerSpec:
        """Raise :class:`CrawlerSpecError` for what AWS rejects; return self when valid."""
        if not self.name or len(self.name) > 255 or "\n" in self.name:
            raise CrawlerSpecError(f"crawler name {self.name!r} must be 1 to 255 characters "
                                   "on one line")
        if not self.database:
            raise CrawlerSpecError(f"crawler {self.name}: DatabaseName is required")
        if isinstance(self.targets, str) or not self.targets:
            raise CrawlerSpecError(f"crawler {self.name}: at least one S3 target is required "
                                   "(targets is a tuple of s3:// URIs)")
        if self.recrawl_policy not in RECRAWL_BEHAVIORS:
            if self.recrawl_policy in _AWS_RECRAWL:
                raise CrawlerSpecError(f"crawler {self.name}: RecrawlBehavior "
                                       f"{self.recrawl_policy} is not supported by this project")
            raise _enum_error(self.recrawl_policy, "recrawlPolicy.recrawlBehavior", _AWS_RECRAWL)
        if self.update_behavior not in UPDATE_BEHAVIORS:
            raise _enum_error(self.update_behavior, "schemaChangePolicy.updateBehavior",
                              UPDATE_BEHAVIORS)
        if self.delete_behavior not in DELETE_BEHAVIORS:
            raise _enum_error(self.delete_behavior, "schemaChangePolicy.deleteBehavior",
                              DELETE_BEHAVIORS)
        if self.recrawl_policy == "CRAWL_NEW_FOLDERS_ONLY" and (
                self.update_behavior != "LOG" or self.delete_behavior != "LOG"):
            raise CrawlerSpecError(NEW_FOLDERS_ONLY_MESSAGE)
        depths = set()
        for target in self.targets:
            _bucket, parts = split_s3_uri(target)
            if not parts:
                raise CrawlerSpecError(f"crawler {self.name}: target {target} is a bucket root; "
                                       "point it at the table's folder")
            depths.add(len(parts) + 1)
        if self.table_level is not None and (self.table_level < 1 or depths != {self.table_level}):
            raise CrawlerSpecError(
                f"crawler {self.name}: table_level {self.table_level} does not match the "
                f"target folder level(s) {sorted(depths)} (bucket = 1); the crawler makes one "
                "table per target folder")
        if self.table_grouping_policy != "CombineCompatibleSchemas":
            raise _enum_error(self.table_grouping_policy, "Grouping.TableGroupingPolicy",
                              ("CombineCompatibleSchemas",))
        names = [self.table_name(t) for t in self.targets]
        if len(set(names)) != len(names):
            raise CrawlerSpecError(f"crawler {self.name}: two targets map to one table name "
                                   f"({', '.join(names)})")
        return self

    @property
    def incremental(self) -> bool:
        """True for ``CRAWL_NEW_FOLDERS_ONLY``."""
        return self.recrawl_policy == "CRAWL_NEW_FOLDERS_ONLY"

    def table_name(self, target: str) -> str:
        """Catalog table name of a target: prefix + last folder name, lower case."""
        _bucket, parts = split_s3_uri(target)
        last = parts[-1] if parts else _bucket
        return (self.table_prefix + last).lower()

    def configuration(self) -> dict[str, Any]:
        """The crawler ``Configuration`` JSON object (grouping and output options)."""
        grouping: dict[str, Any] = {"TableGroupingPolicy": self.table_grouping_policy}
        depths = {len(split_s3_uri(t)[1]) + 1 for t in self.targets}
        level = self.table_level if self.table_level is not None else (
            depths.pop() if len(depths) == 1 else None)
        if level is not None:
            grouping["TableLevelConfiguration"] = level
        conf: dict[str, Any] = {"Version": 1.0, "Grouping": grouping}
        if self.partitions_inherit_from_table:
            conf["CrawlerOutput"] = {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}}
        return conf

    def to_create_crawler_kwargs(self, role_arn: str) -> dict[str, Any]:
        """Keyword arguments for boto3 ``glue.create_crawler`` (validates first)."""
        self.validate()
        s3_targets: list[dict[str, Any]] = []
        for t in self.targets:
            target: dict[str, Any] = {"Path": t}
            if self.exclusions:
                target["Exclusions"] = list(self.exclusions)
            s3_targets.append(target)
        kwargs: dict[str, Any] = {
            "Name": self.name,
            "Role": role_arn,
            "DatabaseName": self.database,
            "Description": self.description,
            "Targets": {"S3Targets": s3_targets},
            "TablePrefix": self.table_prefix,
            "SchemaChangePolicy": {"UpdateBehavior": self.update_behavior,
                                   "DeleteBehavior": self.delete_behavior},
            "RecrawlPolicy": {"RecrawlBehavior": self.recrawl_policy},
            "Configuration": json.dumps(self.configuration(), sort_keys=True),
        }
        if self.schedule:
            kwargs["Schedule"] = self.schedule
        return kwargs


def default_specs(cfg: PipelineConfig) -> list[CrawlerSpec]:
    """The pipeline's crawlers: raw (incremental) and transform (``dq_results`` only).

    The raw layer only ever gains new ``p_date`` folders, so its crawler opens new
    folders only (cost follows new data, not history).

    The transform job registers its model tables and their partitions itself, from the
    same contracts it writes the files with (the way Glue's ``enableUpdateCatalog``
    does): each day is published by moving the catalog partition onto a fresh version
    folder under ``_versions/`` (see ``glue_jobs/publish.py``). That folder was excluded
    (and the local crawler skips ``_`` folders anyway), so a crawler over a model table
    saw no data at all; and one allowed to update partitions would point them back at
    plain folders, undoing the atomic switch. So the transform crawler covers
    only ``dq_results`` (not its ``_staging/``), whose day folders are written in
    place: it adds partitions nobody registered (a day whose job died between writing
    and registering) and logs schema drift and vanished folders (``LOG`` only).
    docs/operate/deploy-checks.md (d).
    """
    raw = CrawlerSpec(
        name=cfg.raw_crawler,
        database=cfg.raw_database,
        targets=(cfg.raw_uri,),
        recrawl_policy="CRAWL_NEW_FOLDERS_ONLY",
        update_behavior="LOG",
        delete_behavior="LOG",
        description="Registers new p_date partitions of the raw user data.",
    )
    transform = CrawlerSpec(
        name=cfg.transform_crawler,
        database=cfg.transform_database,
        targets=(cfg.table_uri(DQ_RESULTS),),
        # a multi-day pass stages DQ rows there and deletes them; one killed mid-pass
        # leaves them, and they are no partition of the table
        exclusions=(f"{STAGING_DIR}/**",),
        recrawl_policy="CRAWL_EVERYTHING",
        update_behavior="LOG",
        delete_behavior="LOG",
        description="Registers dq_results partitions nobody registered and logs their "
                    "schema drift; the job publishes the model tables itself.",
    )
    return [raw.validate(), transform.validate()]
