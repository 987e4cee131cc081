"""CODEOWNERS: every domain's contracts folder needs its own team's review (contracts as code)."""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]


def _rules() -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for line in (_ROOT / ".github" / "CODEOWNERS").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules[pattern] = owners
    return rules


def test_every_contract_folder_has_its_own_owner() -> None:
    """Each folder under config/contracts/ is owned by exactly one team, none shared."""
    rules = _rules()
    folders = sorted(p.name for p in (_ROOT / "config" / "contracts").iterdir() if p.is_dir())
    assert folders, "no contract folders"
    owners = []
    for domain in folders:
        owner = rules.get(f"/config/contracts/{domain}/")
        assert owner is not None, f"CODEOWNERS has no rule for config/contracts/{domain}/"
        assert len(owner) == 1, owner
        assert owner[0].startswith("@"), owner
        owners.append(owner[0])
    assert len(set(owners)) == len(owners), "two domains share an owner team"


def test_no_catch_all_rule_overrides_the_domain_owners() -> None:
    """A later '*' or '/config/' rule would take precedence and drop the domain review."""
    patterns = list(_rules())
    for broad in ("*", "/config/", "/config/contracts/"):
        assert broad not in patterns
