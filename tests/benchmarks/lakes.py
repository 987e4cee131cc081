"""Fresh, empty lakes for benchmark runs, and the producer's checkpoint totals read back.

A ``file://`` lake is a new temporary folder; an S3 lake is a new bucket on the benchmark's
moto server (its own process). ``totals`` reads ``_state/checkpoint.json`` directly (boto3 or
the file), not through the producer's store, so the figures do not depend on the code measured.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # no boto3 stubs installed; typed as Any below

__all__ = ["Lake", "Totals"]

_PREFIX = "telephony-cdr-export"
_CHECKPOINT = f"{_PREFIX}/_state/checkpoint.json"


@dataclass(frozen=True, slots=True)
class Totals:
    """The checkpoint's running totals (``fetched = landed + dead_lettered``)."""

    fetched: int
    landed: int
    dead_lettered: int


@dataclass(frozen=True)
class Lake:
    """One empty lake: its ``MESH_LAKE_URL`` and, for S3, the endpoint."""

    url: str
    s3_endpoint: str | None = None

    @property
    def kind(self) -> str:
        """``s3`` or ``file``."""
        return "s3" if self.s3_endpoint is not None else "file"

    @classmethod
    def new_file(cls) -> Lake:
        """A new temporary folder (removed by ``discard``)."""
        return cls(Path(tempfile.mkdtemp(prefix="perf-lake-")).as_uri())

    @classmethod
    def new_s3(cls, endpoint: str) -> Lake:
        """A new bucket on the moto server at ``endpoint``."""
        bucket = f"perf-{uuid.uuid4().hex[:12]}"
        _client(endpoint).create_bucket(Bucket=bucket)
        return cls(f"s3://{bucket}", endpoint)

    def totals(self) -> Totals | None:
        """The checkpoint's totals, or None when no window was committed."""
        raw = self._read(_CHECKPOINT)
        if raw is None:
            return None
        totals = json.loads(raw)["totals"]
        return Totals(totals["fetched"], totals["landed"], totals["dead_lettered"])

    def discard(self) -> None:
        """Delete the folder, or every object and the bucket."""
        if self.s3_endpoint is None:
            shutil.rmtree(Path(self.url.removeprefix("file://")), ignore_errors=True)
            return
        client = _client(self.s3_endpoint)
        bucket = self.url.removeprefix("s3://")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)

    def _read(self, key: str) -> bytes | None:
        if self.s3_endpoint is None:
            path = Path(self.url.removeprefix("file://")) / key
            return path.read_bytes() if path.exists() else None
        client = _client(self.s3_endpoint)
        try:
            body = client.get_object(Bucket=self.url.removeprefix("s3://"), Key=key)["Body"]
        except client.exceptions.NoSuchKey:
            return None
        with body:
            data: bytes = body.read()
            return data


def _client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
