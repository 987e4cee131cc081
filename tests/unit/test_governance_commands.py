"""``mesh-producer policies render | lint``: files written, one line per finding, exit 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from producer.cli import main

LAKE = "arn:aws:s3:::genesys-data-lake"


@pytest.fixture
def s3_lake(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lake variables the producers use; no OAuth client variable at all."""
    monkeypatch.setenv("MESH_LAKE_URL", "s3://genesys-data-lake")
    monkeypatch.setenv("MESH_WFM__BUCKET", "wfm-schedules-lake")


@pytest.mark.usefixtures("s3_lake")
def test_render_writes_policies_that_lint_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """render writes a policy per group and producer plus the IdP table; lint on them exits 0."""
    out = tmp_path / "policies"
    assert main(["policies", "render", "--out", str(out), "--as-of", "2027-01-15"]) == 0
    written = capsys.readouterr().out.split()
    names = sorted(path.name for path in out.iterdir())
    assert sorted(Path(path).name for path in written) == names
    assert "consumer-analytics-engineering.json" in names
    assert "producer-wfm.json" in names
    assert "idp-scope-roles.json" in names
    wfm = json.loads((out / "producer-wfm.json").read_text())
    assert wfm["Statement"][0]["Resource"][0].startswith("arn:aws:s3:::wfm-schedules-lake/")
    assert main(["policies", "lint", str(out), "--as-of", "2027-01-15"]) == 0
    assert capsys.readouterr().out.startswith("ok: 7 policies, no findings")


@pytest.mark.usefixtures("s3_lake")
def test_lint_without_paths_checks_what_render_would_write(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """lint alone renders in memory; after the approval expires compliance-team is a finding."""
    assert main(["policies", "lint", "--as-of", "2027-06-30"]) == 0
    capsys.readouterr()
    assert main(["policies", "lint", "--as-of", "2027-07-01"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "consumer-compliance-team.json: cross-domain-read: policy: compliance-team reads "
        "telephony, wfm together without an approval "
        "(approval 'schedule adherence audit' expired 2027-06-30)"
    ]


@pytest.mark.usefixtures("s3_lake")
def test_hand_written_policy_one_line_per_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's wildcard example, written by hand for a group: every finding on its own line."""
    policy = tmp_path / "handmade.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{LAKE}/*"},
                    {
                        "Effect": "Allow",
                        "Action": "s3:*",
                        "Resource": f"{LAKE}/qms-scores-export/v1/*",
                    },
                ],
            }
        )
    )
    code = main(["policies", "lint", str(policy), "--as", "consumer:analytics-engineering"])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "wildcard-resource",
        "wildcard-action",
        "consumer-write",
        "not-granted",
    ]
    assert all(line.startswith(f"{policy}: ") for line in lines)


@pytest.mark.usefixtures("s3_lake")
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "whose policy is it? Name it consumer-GROUP.json"),
        (["--as", "root"], "--as: expected consumer:GROUP or producer:DOMAIN"),
        (["--as-of", "tomorrow"], "--as-of: expected YYYY-MM-DD"),
    ],
)
def test_bad_lint_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    """Unclear input is one stderr line and exit 2, before any finding is printed."""
    policy = tmp_path / "handmade.json"
    policy.write_text('{"Statement": []}')
    assert main(["policies", "lint", str(policy), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert expected in captured.err
    assert len(captured.err.splitlines()) == 1


@pytest.mark.usefixtures("s3_lake")
def test_bad_governance_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A broken governance file: one line naming the file and the field, exit 2."""
    config = tmp_path / "consumers.yaml"
    config.write_text("version: 1\nconsumers:\n  ops:\n    idp_scope: s\n    reads: []\n")
    assert main(["policies", "render", "--config", str(config), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"mesh-producer: {config}: consumers.ops.reads: Tuple should have at least 1 item "
        "after validation, not 0\n"
    )
    assert not list(tmp_path.glob("*.json"))


def test_a_file_lake_cannot_have_iam_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the default file:// lake, render refuses with one line naming MESH_LAKE_URL."""
    assert main(["policies", "render", "--out", str(tmp_path / "out")]) == 2
    assert "MESH_LAKE_URL: access policies need an s3:// lake" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


_UNAPPROVED = """\
version: 1
internal_domains: [wfm]
consumers:
  analytics-engineering:
    idp_scope: scope:read_telephony_data
    reads: [{domain: telephony, majors: [1]}]
  roster-vendor:
    idp_scope: scope:vendor_read_schedules
    third_party: true
    reads: [{domain: wfm, majors: [1]}]
  workforce-insights:
    idp_scope: scope:read_insights
    reads:
      - {domain: telephony, majors: [1]}
      - {domain: quality, majors: [1]}
"""


@pytest.mark.parametrize(
    ("cloud", "lake"),
    [
        ("aws", "s3://genesys-data-lake"),
        ("azure", "az://genesys-data-lake"),
        ("gcp", "gs://lake-b"),
    ],
)
def test_render_refuses_unapproved_access_with_the_findings_of_lint(
    cloud: str,
    lake: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A group reading two domains without an approval and a third party reading an internal
    domain: on every cloud render writes nothing, prints exactly lint's findings and exits 1."""
    monkeypatch.setenv("MESH_LAKE_URL", lake)
    config = tmp_path / "consumers.yaml"
    config.write_text(_UNAPPROVED)
    out = tmp_path / "policies"
    args = ["--config", str(config), "--cloud", cloud]
    code = main(["policies", "render", *args, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert not out.exists()
    assert main(["policies", "lint", *args]) == 1
    linted = capsys.readouterr().out.splitlines()
    assert captured.out.splitlines() == linted
    assert [line.split(": ")[:2] for line in linted] == [
        ["consumer-roster-vendor.json", "third-party-internal"],
        ["consumer-workforce-insights.json", "cross-domain-read"],
    ]
    err = captured.err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("mesh-producer: policies render: 2 findings, nothing written")


@pytest.mark.usefixtures("s3_lake")
def test_render_writes_once_the_approval_is_in_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The approval lint asks for, and no internal domain for the vendor: render writes; after
    the approval's last day it refuses again, naming the lapsed approval like lint."""
    config = tmp_path / "consumers.yaml"
    config.write_text(
        _UNAPPROVED.replace("internal_domains: [wfm]", "internal_domains: [quality]")
        + """\
    approvals:
      - domains: [telephony, quality]
        use_case: handle time against scores
        approved_by: data-governance-council (GOV-150)
        reason: Coaching asks whether long calls score lower.
        expires: 2027-03-31
"""
    )
    out = tmp_path / "policies"
    args = ["policies", "render", "--config", str(config), "--out", str(out)]
    assert main([*args, "--as-of", "2027-03-31"]) == 0
    assert (out / "consumer-workforce-insights.json").is_file()
    capsys.readouterr()
    assert main([*args, "--as-of", "2027-04-01"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "consumer-workforce-insights.json: cross-domain-read: policy: workforce-insights reads "
        "quality, telephony together without an approval "
        "(approval 'handle time against scores' expired 2027-03-31)"
    ]


@pytest.mark.parametrize(
    ("lake", "cloud", "key"),
    [
        ("s3://genesys-data-lake", "aws", "Statement"),
        ("az://genesys-data-lake", "azure", "roleAssignments"),
        ("gs://genesys-data-lake", "gcp", "bindings"),
    ],
)
def test_without_cloud_the_lake_decides(
    *,
    lake: str,
    cloud: str,
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No ``--cloud``: the lake's scheme picks the cloud (the CI gate passes none), for render,
    lint of what render writes, and lint of files."""
    monkeypatch.setenv("MESH_LAKE_URL", lake)
    out = tmp_path / "policies"
    assert main(["policies", "render", "--out", str(out), "--as-of", "2027-01-15"]) == 0
    document = json.loads((out / "consumer-analytics-engineering.json").read_text())
    assert key in document
    assert document.get("cloud", "aws") == cloud
    capsys.readouterr()
    assert main(["policies", "lint", "--as-of", "2027-01-15"]) == 0
    assert main(["policies", "lint", str(out), "--as-of", "2027-01-15"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ok: 7 policies, no findings"] * 2


@pytest.mark.parametrize(
    ("lake", "cloud", "scheme"),
    [
        ("az://genesys-data-lake", "aws", "s3"),
        ("gs://genesys-data-lake", "azure", "az"),
        ("s3://genesys-data-lake", "gcp", "gs"),
    ],
)
@pytest.mark.parametrize("command", ["render", "lint", "lint-files"])
def test_a_cloud_that_is_not_the_lakes_is_refused(
    *,
    lake: str,
    cloud: str,
    scheme: str,
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An explicit ``--cloud`` that does not match the lake is one line naming MESH_LAKE_URL."""
    monkeypatch.setenv("MESH_LAKE_URL", lake)
    out = tmp_path / "policies"
    extra = {"render": ["--out", str(out)], "lint": [], "lint-files": [str(tmp_path)]}[command]
    name = command.removesuffix("-files")
    assert main(["policies", name, "--cloud", cloud, *extra]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert f"MESH_LAKE_URL: --cloud {cloud} needs a {scheme}:// lake" in err[0]
    assert not out.exists()
