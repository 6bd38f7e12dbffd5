#!/usr/bin/python
# Copyright: mspctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_set
short_description: Make a policy's folders and files exactly as given, in one task
description:
  - Makes each of I(directories) a folder and writes each of I(files) with its content, owner,
    group and mode, in a single module run on the host. A role's program, configuration and
    units cost one task instead of one C(copy) or C(template) per file, each of which asks the
    host twice (a C(stat), then C(copy) or C(file)).
  - The action plugin reads C(src) entries from the role's C(files/) and renders C(template)
    entries on the controller with the task's variables, as C(ansible.builtin.template) does
    (C(trim_blocks), the template's folder on the search path, C(ansible_managed) defaulting to
    C(Ansible managed)); the module receives their content.
  - A file is rewritten only when its content differs (written beside it, then moved into place
    atomically); owner, group and mode are set when they differ. C(changed) and the diff come
    from the same comparison of each path before and after.
  - Folders are made before files, in the order given; a file's folder must exist or be one of
    I(directories).
version_added: "0.2.0"
author: mspctl contributors (@mspctl)
extends_documentation_fragment:
  - mspctl.policy.attributes
options:
  directories:
    description:
      - Folders to make, in order.
      - Missing parents are made too, with the same owner, group and mode (as
        M(ansible.builtin.file) does); existing parents keep theirs.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the folder.
        type: path
        required: true
      owner:
        description: Owner of the folder (unchanged when omitted).
        type: str
      group:
        description: Group of the folder (unchanged when omitted).
        type: str
      mode:
        description: Mode of the folder, an octal string such as C("0755").
        type: raw
  files:
    description:
      - Files to write, in order.
      - Each names exactly one of C(src), C(template), C(content).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Absolute path of the file.
        type: path
        required: true
      src:
        description: A file of the role's C(files/) (read by the action plugin).
        type: str
      template:
        description: A template of the role's C(templates/) (rendered by the action plugin).
        type: str
      content:
        description: The file's content (text).
        type: str
      owner:
        description: Owner of the file (unchanged when omitted).
        type: str
      group:
        description: Group of the file (unchanged when omitted).
        type: str
      mode:
        description: Mode of the file, an octal string such as C("0644").
        type: raw
notes:
  - POSIX hosts only; Windows roles use C(ansible.windows.win_copy) and C(win_template).
  - The diff shows each changed file's content, before and after. A file that holds a secret
    belongs in its own task with C(no_log) (as for C(ansible.builtin.copy)).
  - The action plugin leaves the module's C(invocation) out of the result, so the files'
    content is not repeated in every recorded event.
"""

EXAMPLES = r"""
- name: Install the collector, its configuration and its units
  mspctl.policy.file_set:
    directories:
      - {path: /usr/local/lib/mspctl, owner: root, group: root, mode: "0755"}
    files:
      - {src: mspctl-monitoring-collect, dest: /usr/local/lib/mspctl/mspctl-monitoring-collect,
         owner: root, group: root, mode: "0755"}
      - {template: monitoring.json.j2, dest: /etc/mspctl/monitoring.json,
         owner: root, group: root, mode: "0644"}
  register: monitoring_files
  notify: Collect the monitoring metrics
"""

RETURN = r"""
paths:
  description: Every folder and file of the task, in order, and whether it changed.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/mspctl/monitoring.json, kind: file, changed: true}]
changed_paths:
  description: The paths that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/mspctl/monitoring.json]
"""

import os
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

ENTRY = {"owner": {"type": "str"}, "group": {"type": "str"}, "mode": {"type": "raw"}}
ARGUMENT_SPEC: dict[str, Any] = {
    "directories": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {"path": {"type": "path", "required": True}, **ENTRY},
    },
    "files": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "dest": {"type": "path", "required": True},
            "src": {"type": "str"},
            "template": {"type": "str"},
            "content": {"type": "str"},
            **ENTRY,
        },
    },
}


def file_args(module: AnsibleModule, path: str, entry: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = module.load_file_common_arguments(
        {
            "path": path,
            "owner": entry.get("owner"),
            "group": entry.get("group"),
            "mode": entry.get("mode"),
        }
    )
    return args


def attributes(
    module: AnsibleModule, path: str, entry: dict[str, Any], diffs: list[dict[str, Any]]
) -> bool:
    """Owner, group and mode of an existing path (set unless check mode); True if they differ."""
    diff: dict[str, Any] = {"before": {"path": path}, "after": {"path": path}}
    changed = module.set_fs_attributes_if_different(
        file_args(module, path, entry), False, diff=diff
    )
    if changed:
        diffs.append(
            {
                **diff,
                "before_header": f"{path} (attributes)",
                "after_header": f"{path} (attributes)",
            }
        )
    return bool(changed)


def make_directory(
    module: AnsibleModule, entry: dict[str, Any], diffs: list[dict[str, Any]]
) -> bool:
    path = entry["path"]
    if os.path.isdir(path):
        return attributes(module, path, entry, diffs)
    if os.path.lexists(path):
        module.fail_json(msg=f"directories: {path} exists and is not a folder")
    diffs.append(
        {
            "before_header": path,
            "after_header": path,
            "before": {"state": "absent"},
            "after": {"state": "directory"},
        }
    )
    if not module.check_mode:
        # like ansible.builtin.file: every folder made here, the missing parents too, gets the
        # entry's owner, group and mode (a parent made as root would lock its owner out)
        missing = []
        head = os.path.normpath(path)
        while not os.path.lexists(head):
            missing.append(head)
            head = os.path.dirname(head)
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except OSError as exc:
                module.fail_json(msg=f"directories: cannot make {folder}: {exc.strerror}")
            attributes(module, folder, entry, [])
    return True


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):  # absent (a bad folder fails when written)
        return None


def write_file(module: AnsibleModule, entry: dict[str, Any], diffs: list[dict[str, Any]]) -> bool:
    path = entry["dest"]
    if os.path.isdir(path):
        module.fail_json(msg=f"files: {path} is a folder")
    content = to_bytes(entry.get("content") or "", errors="surrogate_or_strict")
    before = read(path)
    if before == content:
        return attributes(module, path, entry, diffs)
    diffs.append(
        {
            "before_header": path if before is not None else f"{path} (absent)",
            "after_header": path,
            "before": "" if before is None else to_text(before, errors="surrogate_or_replace"),
            "after": to_text(content, errors="surrogate_or_replace"),
        }
    )
    if module.check_mode:
        return True
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        module.fail_json(
            msg=f"files: the folder of {path} does not exist (list it under directories)"
        )
    handle, scratch = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        # the new content gets its attributes before it takes the path (no moment at a wider
        # mode): the replaced file's, or a new file's default, then the entry's own
        if before is not None:
            current = os.stat(path)
            os.chmod(scratch, current.st_mode & 0o7777)
            os.chown(scratch, current.st_uid, current.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(scratch, 0o666 & ~umask)
        attributes(module, scratch, entry, [])
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return True


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    diffs: list[dict[str, Any]] = []
    paths: list[dict[str, Any]] = []
    for entry in module.params["directories"]:
        paths.append(
            {
                "path": entry["path"],
                "kind": "directory",
                "changed": make_directory(module, entry, diffs),
            }
        )
    for entry in module.params["files"]:
        if entry.get("src") or entry.get("template") or entry.get("content") is None:
            module.fail_json(
                msg=f"files: {entry['dest']} needs its content"
                " (src and template are read by the action plugin)"
            )
        paths.append(
            {"path": entry["dest"], "kind": "file", "changed": write_file(module, entry, diffs)}
        )
    changed_paths = [p["path"] for p in paths if p["changed"]]
    result: dict[str, Any] = {
        "changed": bool(changed_paths),
        "paths": paths,
        "changed_paths": changed_paths,
    }
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
