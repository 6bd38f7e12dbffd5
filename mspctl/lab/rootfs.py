"""The Debian root file system the lab hosts boot, built once per recipe and cached.

``debootstrap --variant=minbase`` plus the packages Ansible and the policy roles need, made
generic (no SSH host keys, no machine-id, no hostname: each host gets its own at ``up``) and
packed as ``<cache>/<distro>-<key>.tar.zst`` where ``key`` hashes the whole recipe below, so a
change to the recipe builds a new image and an unchanged one is never rebuilt. The unpacked
tree next to it (``<cache>/<distro>-<key>/``) is the read-only lower layer of every host's
overlay root.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mspctl.lab._system import LabError, file_lock, require_tools, run, tool
from mspctl.lab.state import DISTROS, recorded_labs

Progress = Callable[[str], None]

MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Host names the guests need for apt; resolved on the host at `up` and pinned in /etc/hosts.
MIRROR_HOSTS = ("deb.debian.org",)

PACKAGES = (
    "python3",
    "python3-apt",
    "systemd",
    "systemd-sysv",
    "dbus",
    "sudo",
    "ca-certificates",
    "iproute2",
    "openssh-server",
    "procps",
    "tzdata",
)

# Bump when the build steps change in a way the recipe below does not capture.
REVISION = 1

SOURCES = """\
Types: deb
URIs: {mirror}
Suites: {distro} {distro}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {security}
Suites: {distro}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

# Written into the image as they are; part of the cache key.
FILES: dict[str, str] = {
    # apt module runs keep their .deb files so the shared archive pool can collect them.
    "etc/apt/apt.conf.d/90mspctl-lab": (
        "// mspctl lab: keep downloaded packages (the host pools them between runs).\n"
        'APT::Keep-Downloaded-Packages "true";\n'
        'Acquire::Languages "none";\n'
    ),
    "etc/ssh/sshd_config.d/mspctl-lab.conf": (
        "# mspctl lab: one host key per host, generated at `mspctl lab up`; key login only.\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "UseDNS no\n"
    ),
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}

# Units that would make hosts do unrequested work (apt runs racing the roles' apt tasks).
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
)


def recipe(distro: str) -> dict[str, Any]:
    if distro not in DISTROS:
        raise LabError(f"unknown distro {distro!r}: choose one of {', '.join(DISTROS)}")
    return {
        "revision": REVISION,
        "distro": distro,
        "variant": "minbase",
        "mirror": MIRROR,
        "security": SECURITY_MIRROR,
        "packages": sorted(PACKAGES),
        "files": FILES,
        "masked": sorted(MASKED_UNITS),
    }


def recipe_key(distro: str) -> str:
    text = json.dumps(recipe(distro), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_dir() -> Path:
    return Path(os.environ.get("MSPCTL_LAB_CACHE", "/var/cache/mspctl/rootfs"))


@dataclass(frozen=True)
class Image:
    distro: str
    key: str

    @property
    def stem(self) -> str:
        return f"{self.distro}-{self.key}"

    @property
    def tarball(self) -> Path:
        return cache_dir() / f"{self.stem}.tar.zst"

    @property
    def root(self) -> Path:
        """The unpacked tree: the read-only lower layer of the hosts' overlays."""
        return cache_dir() / self.stem

    @property
    def lock(self) -> Path:
        return cache_dir() / f".{self.stem}.lock"

    def to_dict(self) -> dict[str, Any]:
        size = self.tarball.stat().st_size if self.tarball.exists() else None
        return {
            "distro": self.distro,
            "key": self.key,
            "tarball": str(self.tarball),
            "tarball_bytes": size,
            "unpacked": self.root.is_dir(),
            "current": True,
        }


def image_for(distro: str) -> Image:
    return Image(distro, recipe_key(distro))


def ensure(distro: str, progress: Progress | None = None) -> Image:
    """The image for ``distro``, unpacked and ready; builds it on a cache miss."""
    say = progress or _quiet
    image = image_for(distro)
    if image.root.is_dir():
        return image
    with file_lock(image.lock):
        if image.root.is_dir():  # built by another process while we waited
            return image
        if image.tarball.is_file():
            started = time.monotonic()
            _unpack(image)
            say(f"unpacked cached {distro} image in {time.monotonic() - started:.1f} s")
            return image
        _build(image, say)
    return image


def build(distro: str, *, force: bool = False, progress: Progress | None = None) -> Image:
    """Build (or with ``force`` rebuild) the image for ``distro``."""
    say = progress or _quiet
    image = image_for(distro)
    with file_lock(image.lock):
        if force:
            if in_use(image.root):
                raise LabError(f"the {distro} image is in use by a lab: run `mspctl lab down`")
            image.tarball.unlink(missing_ok=True)
            if image.root.is_dir():
                _retire(image.root)
        if image.tarball.is_file():
            if not image.root.is_dir():
                _unpack(image)
            say(f"{distro} image {image.key} is already cached: {image.tarball}")
            return image
        _build(image, say)
    return image


def list_images() -> list[dict[str, Any]]:
    current = {image_for(d).stem for d in DISTROS}
    rows: list[dict[str, Any]] = []
    directory = cache_dir()
    if not directory.is_dir():
        return rows
    for tarball in sorted(directory.glob("*.tar.zst")):
        stem = tarball.name.removesuffix(".tar.zst")
        distro, _, key = stem.rpartition("-")
        row = Image(distro, key).to_dict()
        row["current"] = stem in current
        rows.append(row)
    return rows


def apt_pool(distro: str) -> Path:
    """Packages the lab hosts downloaded, kept between labs (see :mod:`mspctl.lab.hosts`)."""
    return apt_pool_root() / distro


def apt_pool_root() -> Path:
    return Path(os.environ.get("MSPCTL_LAB_APT_POOL", "/var/cache/mspctl/apt-archives"))


def clean(*, keep_current: bool = True) -> list[str]:
    """Remove cached images (by default only those an older recipe made); with
    ``keep_current=False`` everything, the shared apt package pool included."""
    if not keep_current and recorded_labs():
        raise LabError(
            f"labs are up ({', '.join(recorded_labs())}): take them down before removing "
            "every image and the package pool"
        )
    current = {image_for(d).stem for d in DISTROS} if keep_current else set()
    removed: list[str] = []
    directory = cache_dir()
    if not directory.is_dir():
        return removed
    for path in sorted(directory.iterdir()):
        stem = path.name.removesuffix(".tar.zst")
        if path.name.startswith(".") or stem in current:
            continue
        if path.is_dir():
            if in_use(path):
                continue
            _retire(path)
        else:
            path.unlink()
        removed.append(path.name)
    if not keep_current and apt_pool_root().is_dir():
        shutil.rmtree(apt_pool_root(), ignore_errors=True)
        removed.append(str(apt_pool_root()))
    return removed


# -- building -------------------------------------------------------------------------------
def _quiet(_: str) -> None:
    return None


def _build(image: Image, say: Progress) -> None:
    require_tools("debootstrap", "zstd", "tar")
    cache_dir().mkdir(parents=True, exist_ok=True)
    work = cache_dir() / f".build-{image.stem}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    say(
        f"building the {image.distro} image (debootstrap, about a minute; "
        f"cached afterwards in {cache_dir()})"
    )
    started = time.monotonic()
    try:
        run(
            [
                "debootstrap",
                "--variant=minbase",
                "--components=main",
                "--include=" + ",".join(PACKAGES),
                image.distro,
                str(work),
                MIRROR,
            ],
            timeout=1800,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        customise(work, image.distro)
        tmp = image.tarball.with_name(image.tarball.name + f".{os.getpid()}.tmp")
        _pack(work, tmp)
        tmp.replace(image.tarball)
        work.replace(image.root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for stale in cache_dir().glob(f"{image.tarball.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        raise
    size = image.tarball.stat().st_size / 1e6
    say(f"built the {image.distro} image in {time.monotonic() - started:.0f} s ({size:.0f} MB)")


def customise(root: Path, distro: str) -> None:
    """Make a freshly bootstrapped tree generic and ready for lab use."""
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    sources = SOURCES.format(mirror=MIRROR, security=SECURITY_MIRROR, distro=distro)
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    for rel, content in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    # Per-host identity is written at `up`: none may be shared through the image.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/hostname").unlink(missing_ok=True)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)

    masked = root / "etc/systemd/system"
    for unit in MASKED_UNITS:
        link = masked / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    for wants in masked.glob("*.wants"):
        for unit in MASKED_UNITS:
            (wants / unit).unlink(missing_ok=True)

    # Small image, and no stale package lists: the first apt task must update the cache.
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/log/*.log"):
        for path in root.glob(pattern):
            path.unlink()
    lists = root / "var/lib/apt/lists"
    for path in lists.iterdir():
        if path.is_file() and path.name != "lock":
            path.unlink()
    (root / "var/lib/apt/periodic/update-success-stamp").unlink(missing_ok=True)
    # ansible.builtin.apt with cache_valid_time judges the cache's age by this directory's
    # mtime: at the epoch, the first run always updates (emptied lists otherwise look fresh
    # and the install fails with "No package matching ...").
    os.utime(lists, (0, 0))


def _pack(root: Path, dest: Path) -> None:
    tar = subprocess.Popen(
        [
            tool("tar"),
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "--acls",
            "-C",
            str(root),
            "-cf",
            "-",
            ".",
        ],
        stdout=subprocess.PIPE,
    )
    assert tar.stdout is not None
    with dest.open("wb") as out:
        zstd = subprocess.run(
            [tool("zstd"), "-q", "-T0", "-12", "-c"], stdin=tar.stdout, stdout=out, check=False
        )
    tar.stdout.close()
    if tar.wait() != 0 or zstd.returncode != 0:
        dest.unlink(missing_ok=True)
        raise LabError(f"could not pack the image into {dest}")


def _unpack(image: Image) -> None:
    require_tools("zstd", "tar")
    work = image.root.with_name(f".unpack-{image.stem}-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    zstd = subprocess.Popen(
        [tool("zstd"), "-q", "-d", "-c", str(image.tarball)], stdout=subprocess.PIPE
    )
    assert zstd.stdout is not None
    tar = subprocess.run(
        [
            tool("tar"),
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "--acls",
            "-C",
            str(work),
            "-xpf",
            "-",
        ],
        stdin=zstd.stdout,
        check=False,
    )
    zstd.stdout.close()
    if zstd.wait() != 0 or tar.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise LabError(f"could not unpack {image.tarball}: delete it to rebuild")
    # tar restored the lists directory's mtime (the epoch) before filling the tree: keep it.
    work.replace(image.root)


def in_use(root: Path) -> bool:
    """Whether an overlay mount (a running lab host) uses ``root`` as its lower layer."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return False
    return f"lowerdir={root}," in mountinfo or f"lowerdir={root}\n" in mountinfo


def _retire(path: Path) -> None:
    """Remove an unpacked tree; a lab still using it keeps its inode until it goes down."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    with contextlib.suppress(OSError):
        path.replace(trash)
        path = trash
    shutil.rmtree(path, ignore_errors=True)
