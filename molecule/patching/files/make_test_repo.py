#!/usr/bin/python3
"""Build tiny Debian packages and a flat apt repository for the patching scenario.

    make_test_repo.py ROOT SUITE NAME=VERSION...

Writes ROOT/SUITE/{NAME_VERSION_all.deb, Packages, Release}; the Release file names the suite
(Suite and Codename, e.g. ``bookworm-security``), which is what the patching role classifies
updates by. ``--install`` also installs the packages with dpkg (the "old" versions).
Standard library and dpkg-deb only: it runs on a bare lab host.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import time


def build(root, name, version):
    deb = os.path.join(root, "%s_%s_all.deb" % (name, version))
    if os.path.exists(deb):
        return deb
    with tempfile.TemporaryDirectory() as tree:
        os.makedirs(os.path.join(tree, "DEBIAN"))
        doc = os.path.join(tree, "usr", "share", "doc", name)
        os.makedirs(doc)
        with open(os.path.join(doc, "version"), "w") as handle:
            handle.write(version + "\n")
        with open(os.path.join(tree, "DEBIAN", "control"), "w") as handle:
            handle.write(
                "Package: %s\nVersion: %s\nArchitecture: all\nSection: misc\nPriority: optional\n"
                "Maintainer: mspctl tests <tests@example.invalid>\n"
                "Description: mspctl patching scenario canary package\n" % (name, version)
            )
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, deb],
                       check=True, stdout=subprocess.DEVNULL)
    return deb


def index(root, suite):
    entries = []
    for file in sorted(os.listdir(root)):
        if not file.endswith(".deb"):
            continue
        path = os.path.join(root, file)
        control = subprocess.run(["dpkg-deb", "-f", path], check=True, capture_output=True,
                                 text=True).stdout.strip()
        with open(path, "rb") as handle:
            data = handle.read()
        entries.append("%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n" % (
            control, file, len(data), hashlib.sha256(data).hexdigest()))
    packages = "\n".join(entries).encode()
    with open(os.path.join(root, "Packages"), "wb") as handle:
        handle.write(packages)
    # Date and checksums make apt notice a republished index (an identical Release is a "Hit").
    with open(os.path.join(root, "Release"), "w") as handle:
        handle.write(
            "Origin: mspctl-test\nLabel: mspctl-test\nSuite: %s\nCodename: %s\n"
            "Date: %s\nArchitectures: all\nSHA256:\n %s %d Packages\n" % (
                suite, suite,
                time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
                hashlib.sha256(packages).hexdigest(), len(packages)))


def main(argv):
    install = "--install" in argv
    args = [a for a in argv if a != "--install"]
    root, suite, specs = args[0], args[1], args[2:]
    directory = os.path.join(root, suite)
    os.makedirs(directory, exist_ok=True)
    debs = [build(directory, *spec.split("=", 1)) for spec in specs]
    index(directory, suite)
    if install:
        subprocess.run(["dpkg", "-i"] + debs, check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main(sys.argv[1:])
