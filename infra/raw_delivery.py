"""The one S3 destination of the raw layer, for every Firehose stream that writes it.

The pull path (Direct PUT from the ingest Lambda, ``infra/stack.py``) and the push path
(Kinesis as source, ``infra/push_stack.py``) must land records identically: the same
``p_date`` prefix and error prefix (``contracts.locations``), Parquet (Snappy) converted
with the raw Glue table's schema, KMS-encrypted, logged. Both build their destination here,
and grant their Firehose role the same rights on it (``destination_statements``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_s3 as s3

from contracts.locations import FIREHOSE_ERROR_PREFIX, FIREHOSE_PREFIX
from contracts.tables import RAW

__all__ = ["destination_statements", "raw_destination"]

F = firehose.CfnDeliveryStream


def raw_destination(*, bucket_arn: str, role_arn: str, key_arn: str, buffer_mb: int,
                    buffer_s: int, log_group_name: str, log_stream_name: str, account: str,
                    region: str, raw_database: str) -> F.ExtendedS3DestinationConfigurationProperty:
    conversion = F.DataFormatConversionConfigurationProperty(
        enabled=True,
        input_format_configuration=F.InputFormatConfigurationProperty(
            deserializer=F.DeserializerProperty(
                open_x_json_ser_de=F.OpenXJsonSerDeProperty(case_insensitive=False))),
        output_format_configuration=F.OutputFormatConfigurationProperty(
            serializer=F.SerializerProperty(
                parquet_ser_de=F.ParquetSerDeProperty(compression="SNAPPY"))),
        schema_configuration=F.SchemaConfigurationProperty(
            catalog_id=account, database_name=raw_database, table_name=RAW.name,
            region=region, role_arn=role_arn, version_id="LATEST"))
    return F.ExtendedS3DestinationConfigurationProperty(
        bucket_arn=bucket_arn, role_arn=role_arn,
        prefix=FIREHOSE_PREFIX, error_output_prefix=FIREHOSE_ERROR_PREFIX,
        buffering_hints=F.BufferingHintsProperty(size_in_m_bs=buffer_mb,
                                                 interval_in_seconds=buffer_s),
        compression_format="UNCOMPRESSED",  # Parquet pages are compressed (Snappy) instead
        encryption_configuration=F.EncryptionConfigurationProperty(
            kms_encryption_config=F.KMSEncryptionConfigProperty(awskms_key_arn=key_arn)),
        cloud_watch_logging_options=F.CloudWatchLoggingOptionsProperty(
            enabled=True, log_group_name=log_group_name, log_stream_name=log_stream_name),
        data_format_conversion_configuration=conversion)


def destination_statements(*, lake: s3.IBucket, glue_arns: Sequence[str],
                           log_stream_arn: str) -> list[iam.PolicyStatement]:
    """What a Firehose role needs to write ``raw_destination`` (besides its source and key):
    bucket-level actions on the bucket, object-level ones on the raw and error prefixes, the
    raw table's schema for the Parquet conversion, and its delivery log stream."""
    return [
        iam.PolicyStatement(
            actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            resources=[lake.bucket_arn]),
        iam.PolicyStatement(
            actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            resources=[lake.arn_for_objects(f"{RAW.prefix}/*"),
                       lake.arn_for_objects("errors/firehose/*")]),
        iam.PolicyStatement(
            actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
            resources=list(glue_arns)),
        iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[log_stream_arn]),
    ]
