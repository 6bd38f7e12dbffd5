"""``mspctl nodes`` and the execution node of a client's site: the model's bad values (exit 3,
file and key named), listing, and a node that does not answer (exit 1, nothing recorded).
The real node (prepare, check, streamed runs) is proven in tests/integration/test_nodes_lab.py."""

from __future__ import annotations

import socket

import pytest

from mspctl.nodes import mismatches

CLIENT = "inventories/demo/client.yml"


def _with_node(cli, node: str) -> None:
    path = cli.project / CLIENT
    text = path.read_text()
    assert text.rstrip().endswith("address: 12 rue du Four, Paris")
    path.write_text(
        text.rstrip() + "\n    node:\n" + "".join(f"      {ln}\n" for ln in node.splitlines())
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


@pytest.mark.parametrize(
    ("node", "key", "words"),
    [
        (
            "name: shop-node\nhost: 10.0.0.2\nport: 70000",
            "sites[0].node.port",
            "less than or equal",
        ),
        ("name: shop-node\nhost: -oProxyCommand=x", "sites[0].node.host", "should match"),
        ("name: shop-node\nhost: 10.0.0.2\ncapacity: 0", "sites[0].node.capacity", "greater"),
        ("name: Shop Node\nhost: 10.0.0.2", "sites[0].node.name", "should match"),
        ("name: shop-node\nhost: 10.0.0.2\npath: relative/dir", "sites[0].node.path", "match"),
        ("name: shop-node\nhost: 10.0.0.2\nsudo: yes", "sites[0].node.sudo", "unknown key"),
        ("host: 10.0.0.2", "sites[0].node.name", "required key is missing"),
    ],
)
def test_bad_node_values_are_bad_input_naming_file_and_key(cli, node, key, words) -> None:
    _with_node(cli, node)
    for args in (("nodes", "list"), ("apply", "demo")):
        result = cli(*args)
        assert result.exit_code == 3, result.output
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, result.stderr
        assert CLIENT in lines[0] and key in lines[0] and words in lines[0], lines[0]
        assert "Traceback" not in result.output
    assert not (cli.home / "runs").exists()


def test_nodes_list_shows_the_site_node(cli) -> None:
    _with_node(cli, "name: shop-node\nhost: 10.0.0.2\nport: 2222\ncapacity: 3")
    rows = cli.json("nodes", "list")
    assert rows == [
        {
            "client": "demo",
            "site": "Shop and bakehouse",
            "name": "shop-node",
            "host": "10.0.0.2",
            "user": "root",
            "port": 2222,
            "capacity": 3,
            "path": "/opt/mspctl-node",
            "identity_file": None,
            "hosts_identity_file": None,
        }
    ]
    result = cli("nodes", "list")
    assert result.exit_code == 0, result.output
    assert "shop-node" in result.stdout and "root@10.0.0.2:2222" in result.stdout


def test_a_node_that_does_not_answer_is_refused(cli) -> None:
    port = _closed_port()
    _with_node(cli, f"name: shop-node\nhost: 127.0.0.1\nport: {port}")
    result = cli("nodes", "check", "shop-node")
    assert result.exit_code == 1, result.output
    assert "shop-node" in result.stderr and "not reachable" in result.stderr
    assert "Connection refused" in result.stderr
    result = cli("apply", "demo")  # a run needs its node: refused before anything is recorded
    assert result.exit_code == 1, result.output
    assert "not reachable" in result.stderr
    assert not (cli.home / "runs").exists()
    result = cli("nodes", "check", "nowhere")
    assert result.exit_code == 3, result.output
    assert "unknown execution node 'nowhere' (known: shop-node)" in result.stderr


def test_two_nodes_for_one_client_are_refused(cli) -> None:
    path = cli.project / CLIENT
    path.write_text(
        path.read_text().rstrip()
        + "\n    node: {name: a, host: 10.0.0.2}\n  - name: Second shop\n"
        + "    node: {name: b, host: 10.0.0.3}\n"
    )
    result = cli("nodes", "list")
    assert result.exit_code == 3, result.output
    assert CLIENT in result.stderr and "at most one site" in result.stderr


def test_version_mismatches_are_named() -> None:
    expected = {"python": "3.11", "ansible-core": "2.19.14", "plugins": "a" * 64}
    assert mismatches(expected, {}) == ["no venv (run `mspctl nodes prepare`)"]
    found = {"python": "3.11", "ansible-core": "2.18.1", "plugins": "b" * 64}
    assert mismatches(expected, found) == [
        "ansible-core 2.18.1 on the node, 2.19.14 here",
        "collection plugins digest bbbbbbbbbbbb on the node, aaaaaaaaaaaa here",
    ]
    assert mismatches(expected, dict(expected)) == []
