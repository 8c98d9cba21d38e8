"""The Glue jobs' argument parsing, on the argv Glue really builds, with AWS's awsglue.

Glue starts a job run's script as ``script.py`` followed by its reserved ids
(``--JOB_ID``, ``--JOB_RUN_ID``, ``--JOB_NAME``), the job's ``DefaultArguments`` and the
run's ``Arguments`` (a run argument replaces a default of the same name). Here the
defaults come from the synthesized template and the run arguments from the state
machine's ``glue:startJobRun`` tasks, evaluated on a nightly input; the parser is
``awsglue.utils.getResolvedOptions`` from AWSGlueDataplanePython 6.0 (Glue 6.0's own).
What this cannot show: extra arguments Glue's service adds that AWS does not document.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from awsglue.utils import GlueArgumentError, getResolvedOptions

from contracts.dates import InvalidDate
from glue_jobs.bulk_import import job_option_names as load_option_names
from glue_jobs.bulk_import import options_from_resolved
from glue_jobs.transform_job import job_option_names, options_from_args
from orchestration.state_machine import DEFINITION_PATH

ACCOUNT_ARN = "arn:aws:iam::123456789012:role/resolved"


def _resolve(value: Any) -> str:
    """CloudFormation intrinsics in a job argument -> a plausible deployed string."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(_resolve(p) for p in parts)
    if "Ref" in value or "Fn::GetAtt" in value:
        return ACCOUNT_ARN
    raise AssertionError(f"unexpected intrinsic in a job argument: {value}")


def _job(template: dict[str, Any], logical_prefix: str) -> dict[str, Any]:
    jobs = {k: v for k, v in template["Resources"].items()
            if v["Type"] == "AWS::Glue::Job" and k.startswith(logical_prefix)}
    assert len(jobs) == 1, jobs
    return next(iter(jobs.values()))["Properties"]


EXECUTION = {"Execution": {"Name": "nightly-2026-11-30", "Id": "arn:x"}}
"""The context object's execution, as Step Functions gives it to a task's Parameters."""


def _run_arguments(placeholder: str, state_input: dict[str, Any]) -> dict[str, str]:
    """The ``Arguments`` the deployed definition passes to the job named ``placeholder``."""
    definition = json.loads(DEFINITION_PATH.read_text(encoding="utf-8"))
    tasks = [s for s in definition["States"].values()
             if s.get("Resource", "").startswith("arn:aws:states:::glue:startJobRun")
             and s["Parameters"]["JobName"] == placeholder]
    assert len(tasks) == 1
    # the Parameters as Step Functions renders them (paths and intrinsics, held to the
    # States Language by the local executor's conformance suite)
    from local_aws.stepfunctions.payload import render_payload

    rendered = render_payload(tasks[0]["Parameters"], state_input, EXECUTION)
    return dict(rendered["Arguments"])


def glue_argv(job: dict[str, Any], run_args: dict[str, str], script: str) -> list[str]:
    """argv as Glue builds it for one job run."""
    args = {k: _resolve(v) for k, v in job.get("DefaultArguments", {}).items()}
    args.update(run_args)
    argv = [script, "--JOB_ID", "j_0f1e2d3c4b5a", "--JOB_RUN_ID",
            "jr_0123456789abcdef", "--JOB_NAME", job["Name"]]
    for key, value in args.items():
        argv += [key, value]
    return argv


NIGHTLY = {"p_date": "2026-11-29"}


def test_transform_job_parses_glues_argv(template: dict[str, Any]) -> None:
    # GIVEN the argv of a nightly transform run
    argv = glue_argv(_job(template, "TransformJob"),
                     _run_arguments("${TransformJobName}", NIGHTLY), "transform_users.py")
    # WHEN the entrypoint resolves it with AWS's parser
    args = getResolvedOptions(argv, job_option_names(argv))
    options = options_from_args(args)
    # THEN the day, the lake and the run id (a reserved id, never asked for) come through,
    # and the execution's name, the key of the day's run_outcomes record
    assert [d.isoformat() for d in options.days] == [NIGHTLY["p_date"]]
    assert options.lake_uri.startswith("s3://")
    assert options.run_id == "jr_0123456789abcdef"
    assert (options.run_key, options.chunk) == ("nightly-2026-11-30", False)


def test_load_job_parses_glues_argv(template: dict[str, Any]) -> None:
    # the load task's input always holds "replace": the definition's DefaultReplace state
    # adds false when the execution input has none
    for replace in (False, True):
        argv = glue_argv(_job(template, "BulkImportJob"),
                         _run_arguments("${LoadJobName}", {**NIGHTLY, "replace": replace}),
                         "bulk_import.py")
        args = getResolvedOptions(argv, load_option_names(argv))
        options = options_from_resolved(args)
        assert args["run_key"] == "nightly-2026-11-30"
        assert options.p_date == NIGHTLY["p_date"]
        assert options.source_uri.endswith(f"/p_date={NIGHTLY['p_date']}/")
        assert options.replace is replace


def test_a_range_run_parses_too(template: dict[str, Any]) -> None:
    argv = glue_argv(_job(template, "TransformJob"),
                     {"--start_date": "2026-02-27", "--end_date": "2026-03-01"}, "t.py")
    assert len(options_from_args(getResolvedOptions(argv, job_option_names(argv))).days) == 3


CHUNK: dict[str, Any] = {"dates": ["2026-02-27", "2026-02-28", "2026-03-01"],
                         "run_key": "exec-1-c0", "replace": False}


def _chunk_arguments(placeholder: str) -> dict[str, str]:
    """What the backfill chunk's task passes the job, its intrinsics evaluated as Step
    Functions does (``States.JsonToString`` is compact JSON; ``States.Format`` of a
    boolean is ``true``/``false``)."""
    from orchestration.backfill import BACKFILL_DEFINITION, CHUNK_STATE

    states = json.loads(BACKFILL_DEFINITION.read_text(encoding="utf-8"))["States"][
        CHUNK_STATE]["ItemProcessor"]["States"]
    [task] = [s for s in states.values() if s.get("Parameters", {}).get("JobName") == placeholder]
    known: dict[str, str] = {
        "States.JsonToString($.dates)": json.dumps(CHUNK["dates"], separators=(",", ":")),
        "$.run_key": CHUNK["run_key"], "States.Format('{}', $.replace)": "false"}
    return {k.removesuffix(".$"): known[v] for k, v in task["Parameters"]["Arguments"].items()}


def test_a_backfill_chunk_parses_in_both_jobs(template: dict[str, Any]) -> None:
    from glue_jobs.bulk_import import RANGE_JOB_OPTIONS

    # GIVEN the argv of a chunk's transform run
    run_args = _chunk_arguments("${TransformJobName}")
    argv = glue_argv(_job(template, "TransformJob"), run_args, "t.py")
    # WHEN resolved with AWS's parser THEN the chunk's dates and run key come through
    options = options_from_args(getResolvedOptions(argv, job_option_names(argv)))
    assert [d.isoformat() for d in options.days] == CHUNK["dates"]
    assert options.run_key == CHUNK["run_key"] and "--p_dates" in run_args
    # AND the chunk's bulk import resolves the same dates, its key and replace
    argv = glue_argv(_job(template, "BulkImportJob"), _chunk_arguments("${LoadJobName}"),
                     "b.py")
    args = getResolvedOptions(argv, [*RANGE_JOB_OPTIONS, "replace"])
    assert json.loads(args["p_dates"]) == CHUNK["dates"]
    assert (args["run_key"], args["replace"]) == (CHUNK["run_key"], "false")


def test_a_missing_argument_is_named_before_spark_starts(template: dict[str, Any]) -> None:
    job = dict(_job(template, "TransformJob"))
    job["DefaultArguments"] = {k: v for k, v in job["DefaultArguments"].items()
                               if k != "--salt_secret_id"}
    argv = glue_argv(job, _run_arguments("${TransformJobName}", NIGHTLY), "t.py")
    with pytest.raises(GlueArgumentError, match="--salt_secret_id"):
        getResolvedOptions(argv, job_option_names(argv))


def test_a_malformed_date_is_named_before_spark_starts(template: dict[str, Any]) -> None:
    argv = glue_argv(_job(template, "TransformJob"), {"--p_date": "2026-11-31"}, "t.py")
    with pytest.raises(InvalidDate, match="2026-11-31"):
        options_from_args(getResolvedOptions(argv, job_option_names(argv)))


def _erasure_tasks() -> dict[str, dict[str, Any]]:
    """Every Glue task of the erasure state machine, the Map's day task included."""
    from orchestration.erasure import DAY_STATE, ERASURE_DEFINITION

    states = json.loads(ERASURE_DEFINITION.read_text(encoding="utf-8"))["States"]
    nested = states[DAY_STATE]["ItemProcessor"]["States"]
    return {name: s for name, s in {**states, **nested}.items()
            if s.get("Resource", "").startswith("arn:aws:states:::glue:startJobRun")}


def test_every_erasure_step_parses_glues_argv(template: dict[str, Any]) -> None:
    from glue_jobs.erasure_steps import STEPS, job_option_names, options_from_args
    from local_aws.stepfunctions.payload import render_payload

    ids = ["6f1c2e64-0d55-4c8a-9a57-3a1e8a0e2b11"]
    top = {"user_ids": ids, "ids": json.dumps(ids, separators=(",", ":"))}
    day = {"p_date": "2026-11-29", "republish": True, "waits": 0}
    context = {"Execution": {"Name": "erase-2026-12-07", "Id": "arn:x"}}
    seen = set()
    for name, task in _erasure_tasks().items():
        # GIVEN the argv Glue builds for the task, its Parameters as Step Functions renders them
        state_input = day if name == "EraseDay" else top
        rendered = render_payload(task["Parameters"], state_input, context)
        assert rendered["JobName"] == "${EraseJobName}"
        argv = glue_argv(_job(template, "EraseJob"), dict(rendered["Arguments"]),
                         "erase_users.py")
        # WHEN the entrypoint resolves it with AWS's parser
        options = options_from_args(getResolvedOptions(argv, job_option_names(argv)))
        # THEN the step, the execution, the lake and the step's own arguments come through
        seen.add(options.step)
        assert options.execution == "erase-2026-12-07"
        assert options.settings.lake_bucket and options.settings.errors_bucket
        if options.step == "day":
            assert (options.p_date, options.republish) == ("2026-11-29", True)
            assert options.salt_secret_id
        else:
            assert json.loads(options.ids or "") == ids
    assert seen == set(STEPS)


def test_an_erasure_step_without_its_arguments_is_named_before_anything_starts(
        template: dict[str, Any]) -> None:
    from glue_jobs.erasure_steps import InvalidErasureArguments, job_option_names, options_from_args

    job = dict(_job(template, "EraseJob"))
    argv = glue_argv(job, {"--step": "day", "--execution": "e1"}, "erase_users.py")
    with pytest.raises(GlueArgumentError, match="--p_date"):
        getResolvedOptions(argv, job_option_names(argv))
    argv = glue_argv(job, {"--step": "wipe", "--execution": "e1"}, "erase_users.py")
    with pytest.raises(InvalidErasureArguments, match="--step must be one of"):
        options_from_args(getResolvedOptions(argv, job_option_names(argv)))
