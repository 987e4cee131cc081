"""Azure and GCP governance: the rendered documents are least-privilege and lint clean, and each
hand-made widening is refused with a finding that says what is wrong.

The lakes are ``az://genesys-data-lake`` and ``gs://genesys-data-lake`` with the default
prefixes; the governance file is the shipped ``config/governance/consumers.yaml``.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from producer.governance.azure import ROLES, lint_azure, render_azure
from producer.governance.files import default_governance_file, load_governance
from producer.governance.gcp import lint_gcp, render_gcp, service_account
from producer.governance.lint import Finding, Principal, Reading
from producer.governance.ports import build_layout

ON = date(2027, 1, 15)
AFTER_APPROVAL = date(2027, 7, 1)
CONFIG = load_governance(default_governance_file())
_OUTPUTS: dict[str, tuple[str, str | None]] = {
    "telephony": ("telephony-cdr-export", None),
    "quality": ("qms-scores-export", None),
    "wfm": ("wfm-schedules-export", None),
}
AZ = build_layout("az://genesys-data-lake", _OUTPUTS)
GS = build_layout("gs://genesys-data-lake", _OUTPUTS)
ANALYTICS = Principal("consumer", "analytics-engineering")
TELEPHONY = Principal("producer", "telephony")
AZ_ANALYTICS = Reading(ANALYTICS, CONFIG, AZ, ON)
AZ_TELEPHONY = Reading(TELEPHONY, CONFIG, AZ, ON)
GS_ANALYTICS = Reading(ANALYTICS, CONFIG, GS, ON)
GS_TELEPHONY = Reading(TELEPHONY, CONFIG, GS, ON)


def _kinds(findings: list[Finding]) -> set[str]:
    return {finding.kind for finding in findings}


def _azure(name: str) -> dict[str, Any]:
    return copy.deepcopy(render_azure(CONFIG, AZ)[name])


def _gcp(name: str) -> dict[str, Any]:
    return copy.deepcopy(render_gcp(CONFIG, GS)[name])


class TestRendered:
    def test_every_rendered_document_lints_clean(self) -> None:
        """Both clouds: every consumer group and producer document has no finding."""
        for render, lint, layout in ((render_azure, lint_azure, AZ), (render_gcp, lint_gcp, GS)):
            for name, document in render(CONFIG, layout).items():
                principal = Principal.from_file_name(name)
                assert principal is not None
                assert lint(document, Reading(principal, CONFIG, layout, ON)) == [], name

    def test_azure_reader_is_scoped_to_the_container_and_exact_prefixes(self) -> None:
        """A data reader role on one container, the condition naming v1/ and the registry."""
        (assignment,) = _azure("consumer-analytics-engineering.json")["roleAssignments"]
        assert assignment["roleDefinitionName"] == "Storage Blob Data Reader"
        assert assignment["scope"].endswith("/blobServices/default/containers/genesys-data-lake")
        assert "StringStartsWith 'telephony-cdr-export/v1/'" in assignment["condition"]
        assert "failed-records" not in assignment["condition"]

    def test_azure_producer_deletes_parts_its_lease_and_markers_never_the_checkpoint(
        self,
    ) -> None:
        """The delete clause names the parts, the writer lease and the event-stream markers."""
        (assignment,) = _azure("producer-telephony.json")["roleAssignments"]
        delete = assignment["condition"].split("blobs/delete")[1].split("AND (")[0]
        for path in (
            "telephony-cdr-export/failed-records/",
            "telephony-cdr-export/_state/lease.json",
            "telephony-cdr-export/_state/published/",
        ):
            assert f"'{path}'" in delete, delete
        assert "checkpoint" not in delete
        assert "'telephony-cdr-export/_state/'" not in delete

    def test_azure_producer_has_its_aks_federated_credential(self) -> None:
        """The producer's identity trusts exactly its Kubernetes service account."""
        (credential,) = _azure("producer-telephony.json")["federatedCredentials"]
        assert credential["subject"] == "system:serviceaccount:ccaas-mesh:telephony-mesh-producer"
        assert credential["audiences"] == ["api://AzureADTokenExchange"]

    def test_gcp_bindings_are_on_the_bucket_with_prefix_conditions(self) -> None:
        """objectViewer on the bucket, IAM Condition on resource.name and the list prefix."""
        (binding,) = _gcp("consumer-analytics-engineering.json")["bindings"]
        assert binding["role"] == "roles/storage.objectViewer"
        assert binding["resource"] == "projects/_/buckets/genesys-data-lake"
        expression = binding["condition"]["expression"]
        objects = "projects/_/buckets/genesys-data-lake/objects/"
        assert f'resource.name.startsWith("{objects}telephony-cdr-export/v1/")' in expression
        assert "objectListPrefix" in expression

    def test_gcp_service_accounts_fit_gcp_limits(self) -> None:
        """Account ids are at most 30 characters, also for a long group name."""
        for name in ["analytics-engineering", "a" * 49]:
            account = service_account("consumer", name).split("@")[0]
            assert 6 <= len(account) <= 30, account
        workload = _gcp("producer-telephony.json")["workloadIdentity"]
        assert workload["member"].endswith(".svc.id.goog[ccaas-mesh/telephony-mesh-producer]")


class TestAzureLint:
    def test_account_wide_scope_is_refused(self) -> None:
        document = _azure("consumer-analytics-engineering.json")
        scope = document["roleAssignments"][0]["scope"]
        document["roleAssignments"][0]["scope"] = scope.split("/blobServices/")[0]
        findings = lint_azure(document, AZ_ANALYTICS)
        assert _kinds(findings) == {"wildcard-resource"}
        assert "not one container" in findings[0].message

    def test_an_assignment_without_a_condition_is_refused(self) -> None:
        document = _azure("consumer-analytics-engineering.json")
        del document["roleAssignments"][0]["condition"]
        findings = lint_azure(document, AZ_ANALYTICS)
        assert _kinds(findings) == {"wildcard-resource"}
        assert "no ABAC condition" in findings[0].message

    def test_a_consumer_with_a_write_role_is_refused(self) -> None:
        document = _azure("consumer-analytics-engineering.json")
        document["roleAssignments"][0]["roleDefinitionName"] = "Storage Blob Data Contributor"
        document["roleAssignments"][0]["roleDefinitionId"] = ROLES["Storage Blob Data Contributor"][
            0
        ]
        findings = lint_azure(document, AZ_ANALYTICS)
        assert "wildcard-resource" in _kinds(findings)  # write/delete not restricted

    def test_dead_letters_foreign_prefixes_and_loose_operators_are_refused(self) -> None:
        document = _azure("consumer-analytics-engineering.json")
        assignment = document["roleAssignments"][0]
        condition = assignment["condition"]
        assignment["condition"] = condition.replace(
            "'telephony-cdr-export/v1/'", "'telephony-cdr-export/failed-records/'"
        )
        assert "dead-letter-access" in _kinds(lint_azure(document, AZ_ANALYTICS))
        assignment["condition"] = condition.replace(
            "'telephony-cdr-export/v1/'", "'qms-scores-export/v1/'"
        )
        assert "not-granted" in _kinds(lint_azure(document, AZ_ANALYTICS))
        assignment["condition"] = condition.replace("StringStartsWith", "StringLike", 1)
        assert _kinds(lint_azure(document, AZ_ANALYTICS)) == {"wildcard-resource"}

    def test_cross_domain_read_needs_an_unexpired_approval(self) -> None:
        document = _azure("consumer-compliance-team.json")
        principal = Principal("consumer", "compliance-team")
        assert lint_azure(document, Reading(principal, CONFIG, AZ, ON)) == []
        findings = lint_azure(document, Reading(principal, CONFIG, AZ, AFTER_APPROVAL))
        assert _kinds(findings) == {"cross-domain-read"}
        assert "expired" in findings[0].message

    def test_a_producer_reaching_another_domain_or_another_account_is_refused(self) -> None:
        document = _azure("producer-telephony.json")
        assignment = document["roleAssignments"][0]
        assignment["condition"] = assignment["condition"].replace(
            "'telephony-cdr-export/'", "'wfm-schedules-export/'"
        )
        assert "cross-domain-write" in _kinds(lint_azure(document, AZ_TELEPHONY))
        document = _azure("producer-telephony.json")
        document["federatedCredentials"][0]["subject"] = (
            "system:serviceaccount:ccaas-mesh:wfm-mesh-producer"
        )
        assert _kinds(lint_azure(document, AZ_TELEPHONY)) == {"cross-domain-write"}


class TestGcpLint:
    def test_a_project_wide_or_unconditioned_binding_is_refused(self) -> None:
        document = _gcp("consumer-analytics-engineering.json")
        document["bindings"][0]["resource"] = "projects/my-project"
        assert _kinds(lint_gcp(document, GS_ANALYTICS)) == {"wildcard-resource"}
        document = _gcp("consumer-analytics-engineering.json")
        del document["bindings"][0]["condition"]
        findings = lint_gcp(document, GS_ANALYTICS)
        assert _kinds(findings) == {"wildcard-resource"}
        assert "no IAM Condition" in findings[0].message

    def test_a_consumer_with_a_write_role_is_refused(self) -> None:
        document = _gcp("consumer-analytics-engineering.json")
        document["bindings"][0]["role"] = "roles/storage.objectUser"
        assert "consumer-write" in _kinds(lint_gcp(document, GS_ANALYTICS))
        document["bindings"][0]["role"] = "roles/storage.objectAdmin"
        assert "wildcard-action" in _kinds(lint_gcp(document, GS_ANALYTICS))

    def test_dead_letters_other_domains_and_loose_conditions_are_refused(self) -> None:
        document = _gcp("consumer-analytics-engineering.json")
        condition = document["bindings"][0]["condition"]
        expression = condition["expression"]
        condition["expression"] = expression.replace(
            "telephony-cdr-export/v1/", "telephony-cdr-export/failed-records/"
        )
        assert "dead-letter-access" in _kinds(lint_gcp(document, GS_ANALYTICS))
        condition["expression"] = expression.replace("telephony-cdr-export/v1/", "wfm-sched")
        assert "wildcard-resource" in _kinds(lint_gcp(document, GS_ANALYTICS))
        condition["expression"] = expression + ' || resource.name.matches(".*")'
        assert _kinds(lint_gcp(document, GS_ANALYTICS)) == {"wildcard-resource"}
        condition["expression"] = expression.replace(
            "buckets/genesys-data-lake/objects", "buckets/other-lake/objects", 1
        )
        assert _kinds(lint_gcp(document, GS_ANALYTICS)) == {"wildcard-resource"}

    def test_third_party_reading_internal_data_is_refused(self) -> None:
        document = _gcp("consumer-speech-analytics-vendor.json")
        vendor = Principal("consumer", "speech-analytics-vendor")
        borrowed = _gcp("consumer-compliance-team.json")["bindings"][1]
        borrowed["members"] = document["bindings"][0]["members"]
        document["bindings"].append(borrowed)
        assert "third-party-internal" in _kinds(lint_gcp(document, Reading(vendor, CONFIG, GS, ON)))

    def test_a_wrong_workload_identity_member_is_refused(self) -> None:
        document = _gcp("producer-telephony.json")
        document["workloadIdentity"]["member"] = (
            "serviceAccount:${PROJECT_ID}.svc.id.goog[ccaas-mesh/quality-mesh-producer]"
        )
        assert _kinds(lint_gcp(document, GS_TELEPHONY)) == {"cross-domain-write"}


@pytest.mark.usefixtures("cli_logging")
@pytest.mark.parametrize(("cloud", "lake"), [("azure", "az://lake"), ("gcp", "gs://lake-b")])
def test_policies_commands_per_cloud(
    cloud: str,
    lake: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    """``render --cloud`` writes one file per principal; ``lint --cloud`` passes them and the
    shipped config; a lake of another cloud is a one-line configuration error."""
    from producer.cli import main

    monkeypatch.setenv("MESH_LAKE_URL", lake)
    assert main(["policies", "render", "--cloud", cloud, "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.json"))) == 7
    assert main(["policies", "lint", "--cloud", cloud]) == 0
    assert main(["policies", "lint", "--cloud", cloud, str(tmp_path)]) == 0
    assert "ok: 7 policies, no findings" in capsys.readouterr().out
    monkeypatch.setenv("MESH_LAKE_URL", "s3://lake-b")
    assert main(["policies", "lint", "--cloud", cloud]) == 2


_CONTAINER_NAME = (
    "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] "
    "StringEquals 'genesys-data-lake'"
)


class TestHandEditedBypasses:
    """Edits that keep every granted prefix in place but add a way around them: lint rebuilds
    the condition from the prefixes it found and refuses any text that differs, and checks
    that each assignment or binding is for the document's own identity."""

    def test_azure_an_or_inside_the_allowed_paths_is_refused(self) -> None:
        document = _azure("consumer-analytics-engineering.json")
        assignment = document["roleAssignments"][0]
        assignment["condition"] = assignment["condition"].replace(
            "StringStartsWith 'telephony-cdr-export/v1/'",
            f"StringStartsWith 'telephony-cdr-export/v1/' OR {_CONTAINER_NAME}",
            1,
        )
        findings = lint_azure(document, AZ_ANALYTICS)
        assert _kinds(findings) == {"wildcard-resource"}
        assert "not the condition" in findings[0].message

    def test_azure_an_or_around_the_whole_condition_is_refused(self) -> None:
        document = _azure("consumer-analytics-engineering.json")
        assignment = document["roleAssignments"][0]
        assignment["condition"] = f"({assignment['condition']}) OR ({_CONTAINER_NAME})"
        assert _kinds(lint_azure(document, AZ_ANALYTICS)) == {"wildcard-resource"}

    def test_azure_a_list_clause_restricted_by_the_blob_path_is_refused(self) -> None:
        """``Blob.List`` has no blob path: it must be restricted by the request's prefix."""
        document = _azure("consumer-analytics-engineering.json")
        assignment = document["roleAssignments"][0]
        assignment["condition"] = assignment["condition"].replace(
            "@Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:prefix]",
            "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]",
        )
        assert _kinds(lint_azure(document, AZ_ANALYTICS)) == {"wildcard-resource"}

    def test_azure_an_assignment_to_another_identity_is_refused(self) -> None:
        document = _azure("consumer-analytics-engineering.json")
        document["roleAssignments"][0]["principal"] = "mesh-producer-telephony"
        findings = lint_azure(document, AZ_ANALYTICS)
        assert _kinds(findings) == {"foreign-principal"}
        assert "'mesh-consumer-analytics-engineering'" in findings[0].message

    def test_azure_a_federated_credential_of_another_identity_is_refused(self) -> None:
        """Telephony's service account federated to wfm's identity would write wfm's data."""
        document = _azure("producer-telephony.json")
        document["federatedCredentials"][0]["identity"] = "mesh-producer-wfm"
        assert _kinds(lint_azure(document, AZ_TELEPHONY)) == {"foreign-principal"}

    @pytest.mark.parametrize(
        "widening", [" || 1 == 1", ' || resource.type == "storage.googleapis.com/Object"']
    )
    def test_gcp_an_or_after_the_prefixes_is_refused(self, widening: str) -> None:
        document = _gcp("consumer-analytics-engineering.json")
        document["bindings"][0]["condition"]["expression"] += widening
        findings = lint_gcp(document, GS_ANALYTICS)
        assert _kinds(findings) == {"wildcard-resource"}
        assert "not the condition" in findings[0].message

    def test_gcp_a_listing_of_the_whole_bucket_is_refused(self) -> None:
        document = _gcp("consumer-analytics-engineering.json")
        condition = document["bindings"][0]["condition"]
        condition["expression"] = condition["expression"].replace(
            '.startsWith("telephony-cdr-export/v1/")', '.startsWith("")'
        )
        assert _kinds(lint_gcp(document, GS_ANALYTICS)) == {"wildcard-resource"}

    @pytest.mark.parametrize(
        "members",
        [
            ["allUsers"],
            ["allAuthenticatedUsers"],
            [
                "serviceAccount:mesh-c-analytics-engineering@${PROJECT_ID}.iam.gserviceaccount.com",
                "allUsers",
            ],
            ["serviceAccount:mesh-p-telephony@${PROJECT_ID}.iam.gserviceaccount.com"],
        ],
    )
    def test_gcp_a_binding_for_anyone_else_is_refused(self, members: list[str]) -> None:
        document = _gcp("consumer-analytics-engineering.json")
        document["bindings"][0]["members"] = members
        findings = lint_gcp(document, GS_ANALYTICS)
        assert _kinds(findings) == {"foreign-principal"}

    def test_gcp_workload_identity_on_another_service_account_is_refused(self) -> None:
        """Telephony's Kubernetes account impersonating wfm's service account."""
        document = _gcp("producer-telephony.json")
        document["workloadIdentity"]["serviceAccount"] = service_account("producer", "wfm")
        assert _kinds(lint_gcp(document, GS_TELEPHONY)) == {"foreign-principal"}

    def test_azure_a_role_id_of_another_role_is_refused(self) -> None:
        """The name says Reader; the id, which the deployment uses, is Owner's."""
        document = _azure("consumer-analytics-engineering.json")
        document["roleAssignments"][0]["roleDefinitionId"] = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
        findings = lint_azure(document, AZ_ANALYTICS)
        assert _kinds(findings) == {"outside-lake"}

    def test_a_prefix_with_a_backslash_is_refused(self) -> None:
        """An escaped quote would let a prefix swallow the text after it into its string."""
        document = _gcp("consumer-analytics-engineering.json")
        condition = document["bindings"][0]["condition"]
        condition["expression"] = condition["expression"].replace(
            "telephony-cdr-export/v1/", "telephony-cdr-export/v1/\\\\"
        )
        assert _kinds(lint_gcp(document, GS_ANALYTICS)) == {"wildcard-resource"}
        document = _azure("consumer-analytics-engineering.json")
        assignment = document["roleAssignments"][0]
        assignment["condition"] = assignment["condition"].replace(
            "'telephony-cdr-export/v1/'", "'telephony-cdr-export/v1/\\\\'"
        )
        assert _kinds(lint_azure(document, AZ_ANALYTICS)) == {"wildcard-resource"}
