"""The running version: what status prints and the runs record (docs/failure-classes.md, FC-14)."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from keepa_deals import __version__


@dataclass(frozen=True, slots=True)
class VersionInfo:
    #: ``keepa_deals.__version__`` of the code in this process
    version: str
    #: the version the installed distribution declares (None when not installed)
    installed: str | None
    #: the git commit of the source tree when running from a checkout
    git_commit: str | None
    #: True when that checkout has uncommitted changes
    git_dirty: bool | None
    #: where the package was imported from
    path: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        parts = [self.version]
        if self.git_commit:
            parts.append(f"git {self.git_commit}{'+dirty' if self.git_dirty else ''}")
        if self.installed and self.installed != self.version:
            parts.append(f"installed metadata says {self.installed}: reinstall")
        return ", ".join(parts)


@cache
def version_info() -> VersionInfo:
    """This process's version; the git part costs one quick ``git`` call, once."""
    import keepa_deals

    package_dir = Path(keepa_deals.__file__).resolve().parent
    return VersionInfo(
        version=__version__,
        installed=_installed(),
        git_commit=_git(package_dir, "rev-parse", "--short=12", "HEAD"),
        git_dirty=_dirty(package_dir),
        path=str(package_dir),
    )


def _installed() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("keepa-deals")
    except metadata.PackageNotFoundError:
        return None


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _dirty(cwd: Path) -> bool | None:
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no", "--", ".")
    if status is None:
        return None if _git(cwd, "rev-parse", "HEAD") is None else False
    return bool(status)
