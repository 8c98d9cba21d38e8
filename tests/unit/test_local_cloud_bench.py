"""What a benchmark takes from a LocalCloud over a lake of its own."""

from __future__ import annotations

from pathlib import Path

from local_aws.cloud import LocalCloud


def _databases(cloud: LocalCloud) -> list[str]:
    return sorted(d["Name"] for d in cloud.catalog.get_databases()["DatabaseList"])


def test_a_cloud_without_deploy_leaves_the_catalog_for_the_bench(tmp_path: Path) -> None:
    # GIVEN a cloud that deploys and one that does not
    deployed = LocalCloud(tmp_path / "deployed")
    bare = LocalCloud(tmp_path / "bare", deploy=False)
    # THEN only the first has the deployed databases; the bare one's catalog is empty
    assert _databases(deployed) == sorted([deployed.cfg.raw_database,
                                           deployed.cfg.transform_database])
    assert _databases(bare) == []
    # AND the bare one's twins are over its own folder
    assert bare.store.path(f"s3://{bare.cfg.lake_bucket}/x").is_relative_to(tmp_path / "bare")


def test_the_glue_runtime_runs_on_the_spark_session_it_is_given(tmp_path: Path) -> None:
    # GIVEN a bare cloud and a stand-in for a bench's own Spark session
    cloud = LocalCloud(tmp_path, deploy=False)
    session = object()
    # WHEN the bench asks for the Glue runtime on that session
    runtime = cloud.glue_runtime(session)
    # THEN it runs on that session over the cloud's own catalog and object store, so no
    # Spark of the cloud's is started
    assert runtime.spark is session
    assert runtime.catalog is cloud.catalog and runtime.store is cloud.store
    assert cloud._spark is None
