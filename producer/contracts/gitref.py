"""The released contracts for ``contracts check --against REF``: the contract files at a git ref.

Owns the only calls to git: finds the repository holding the contracts folder, checks the ref,
and reads ``{domain}/{MAJOR.MINOR}.json`` as they are at that ref (parsed like files, with the
same one-line errors naming ``REF:path``). Reads only; never changes the repository.
"""

from __future__ import annotations

import shutil
import subprocess  # git only, with a fixed argument list and never a shell
from pathlib import Path, PurePosixPath

from producer.contracts.registry import Contract, parse_contract
from producer.errors import ConfigError

__all__ = ["contracts_at"]

_TIMEOUT_S = 60.0


def contracts_at(ref: str, directory: Path) -> dict[str, list[Contract]]:
    """The contracts of ``directory`` as they are at git ``ref`` (domain -> sorted versions).

    ``directory`` must be inside a git work tree; a folder absent at ``ref`` gives ``{}`` (nothing
    released yet). Raises ``ConfigError`` (one line) when git is missing, ``directory`` is not in
    a repository, ``ref`` is not a commit, or a file at ``ref`` is not a valid contract.
    """
    if ref.startswith("-"):
        raise ConfigError(f"--against: {ref!r} is not a git ref")
    git = shutil.which("git")
    if git is None:
        raise ConfigError("--against: git is not installed")
    folder = directory.resolve()
    if not folder.is_dir():
        raise ConfigError(f"MESH_CONTRACTS_DIR: {directory} does not exist or is not a folder")
    top = _git(git, folder, "rev-parse", "--show-toplevel")
    if top is None:
        raise ConfigError(f"--against: {directory} is not inside a git repository")
    root = Path(top.strip()).resolve()
    if _git(git, root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
        raise ConfigError(f"--against: {ref!r} is not a commit of the repository at {root}")
    relative = PurePosixPath(folder.relative_to(root).as_posix())
    listing = _git(git, root, "ls-tree", "-r", "-z", "--name-only", ref, "--", f"{relative}/")
    found: dict[str, list[Contract]] = {}
    for name in sorted(filter(None, (listing or "").split("\0"))):
        path = PurePosixPath(name)
        inside = path.relative_to(relative) if relative.parts else path
        if len(inside.parts) != 2 or inside.suffix != ".json" or inside.parts[0][0] in "._":
            continue  # load_contracts ignores the same files
        text = _git(git, root, "show", f"{ref}:{name}")
        if text is None:
            raise ConfigError(f"--against: cannot read {name} at {ref}")
        contract = parse_contract(Path(f"{ref}:{name}"), text)
        found.setdefault(contract.domain, []).append(contract)
    return {d: sorted(cs, key=lambda c: (c.major, c.minor)) for d, cs in sorted(found.items())}


def _git(git: str, cwd: Path, *args: str) -> str | None:
    """git's stdout, or None when it exits non-zero."""
    try:
        done = subprocess.run(  # noqa: S603 -- fixed git argv; ref was checked not to be an option
            [git, "-C", str(cwd), *args],
            capture_output=True,
            check=False,
            timeout=_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"--against: git {args[0]} failed: {type(exc).__name__}") from None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")
