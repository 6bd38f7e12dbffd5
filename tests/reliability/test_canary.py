"""No secret reaches the disk: a canary in the environment, in the database URL's password and in
a vault-encrypted host variable used by a no_log task is found nowhere under MSPCTL_HOME (run
store included), in the reports, nor in the store's tables on PostgreSQL."""

from __future__ import annotations

import json
import stat

import pytest

CANARY = "canary-7f3e9a1c5b"


def _vaulted(text: str, password: str) -> bytes:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password.encode()))])
    return bytes(vault.encrypt(text))


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_no_canary_anywhere(slow, store, request):
    project = slow.project
    tasks = project / "roles/assets/tasks/main.yml"
    tasks.write_text(
        tasks.read_text().replace("sleep 60", "sleep 0")
        + (
            "\n- name: Use the secret\n"
            "  ansible.builtin.debug:\n"
            '    msg: "{{ canary_secret }}"\n'
            "  no_log: true\n"
        )
    )
    group_vars = project / "inventories/demo/group_vars/all"
    group_vars.mkdir(parents=True)
    (group_vars / "vault.yml").write_bytes(_vaulted(f"canary_secret: {CANARY}\n", "vault-pass-1"))
    vault_file = slow.home.parent / "vault dir" / "demo.pass"  # a space in the vault path too
    vault_file.parent.mkdir()
    vault_file.write_text("vault-pass-1\n")
    extra = {"PGPASSWORD": CANARY, "MSPCTL_CANARY_TOKEN": CANARY, "SOME_API_TOKEN": CANARY}
    if store == "postgresql":
        url = request.getfixturevalue("pg_url").replace("canary-pg-pass", CANARY)
        extra["MSPCTL_DB_URL"] = url
    result = slow.run("apply", "demo", "--json", "--vault-password-file", str(vault_file), **extra)
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    report = slow.home / "report.html"
    shown = slow.run("report", "demo", "--format", "html", "-o", str(report), **extra)
    assert shown.returncode == 0, shown.stderr
    listed = slow.run("runs", "show", run_id, "--json", **extra)
    assert listed.returncode == 0, listed.stderr
    assert CANARY not in result.stdout + result.stderr + listed.stdout + shown.stderr
    tasks = {(t["task"], t["status"]) for t in json.loads(listed.stdout)["tasks"]}
    assert ("Use the secret", "ok") in tasks  # the vaulted secret was decrypted and used

    found = [
        str(path)
        for path in slow.home.rglob("*")
        if path.is_file() and CANARY.encode() in path.read_bytes()
    ]
    assert found == [], f"the canary was written to {found}"
    command = json.loads(next(slow.home.glob("runs/*/artifacts/*/command")).read_text())
    assert "PGPASSWORD" not in command["env"]
    assert not any(
        name.startswith("MSPCTL_") and name != "MSPCTL_RUN_ID" for name in command["env"]
    )
    for private in (slow.home / "runs", slow.home / "facts", slow.home / "runs" / run_id):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, private
    if store == "sqlite":
        assert stat.S_IMODE((slow.home / "mspctl.db").stat().st_mode) == 0o600
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
            tables = [
                r[0]
                for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")
            ]
            for table in tables:
                dump = conn.execute(
                    f"select string_agg(t::text, ' ') from \"{table}\" t"
                ).fetchone()
                assert CANARY not in str(dump), table
                if table == "runs":
                    assert run_id in str(dump)  # the dump does read the rows


def test_ansible_gets_no_secret_of_the_environment():
    from mspctl.runner import child_env

    env = {
        "PATH": "/bin",
        "HOME": "/root",
        "SSH_AUTH_SOCK": "/s",
        "ANSIBLE_HOST_KEY_CHECKING": "1",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/v",
        "PGPASSWORD": "x",
        "PGPASSFILE": "/p",
        "MSPCTL_DB_URL": "x",
        "MSPCTL_VAULT_PASSWORD_FILE": "/v",
        "AWS_SECRET_ACCESS_KEY": "x",
        "GITHUB_TOKEN": "x",
        "db_password": "x",
    }
    assert child_env(env) == {
        "PATH": "/bin",
        "HOME": "/root",
        "SSH_AUTH_SOCK": "/s",
        "ANSIBLE_HOST_KEY_CHECKING": "1",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/v",
    }
