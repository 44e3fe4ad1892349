"""The committed contract artifacts are exactly what a fresh solc-js compile of contracts/*.sol produces."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from arb.chain import artifacts

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"
EXPECTED = {"ArbExecutor", "BatchReader", "FlashLoanPool", "TestERC20", "TestFlashReceiver", "TestV3Minter"}


def test_committed_artifacts_equal_a_fresh_compile():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the contracts are compiled with solc-js (Node 20)")
    r = subprocess.run([node, str(CONTRACTS / "compile.mjs"), "--check"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"compile.mjs --check failed (rc {r.returncode}):\n{r.stdout}\n{r.stderr}"
    assert "up to date" in r.stdout


def test_every_artifact_has_abi_and_bytecode():
    found = {p.stem for p in (CONTRACTS / "artifacts").glob("*.json")}
    assert EXPECTED <= found, f"missing artifacts: {EXPECTED - found}"
    for name in sorted(found):
        path = CONTRACTS / "artifacts" / f"{name}.json"
        text = path.read_text()
        d = json.loads(text)
        assert text == json.dumps(d, indent=2, sort_keys=True) + "\n", f"{path} is not in the stable format"
        assert d["contractName"] == name
        assert isinstance(d["abi"], list) and d["abi"], name
        for key in ("bytecode", "deployedBytecode"):
            assert d[key].startswith("0x") and len(d[key]) > 2, (name, key)
            bytes.fromhex(d[key][2:])
        assert d["compiler"]["version"].startswith("0.8.37")
        settings = d["compiler"]["settings"]
        assert settings["evmVersion"] == "cancun"
        assert settings["optimizer"] == {"enabled": True, "runs": 200}
        assert settings["metadata"] == {"bytecodeHash": "none"}
        a = artifacts.load(name)  # the Python loader reads ours first
        assert a.bytecode == d["bytecode"] and a.abi == d["abi"]


def test_check_detects_a_changed_or_stale_artifact(tmp_path):
    """--check exits 1 and names each artifact that differs or that no source defines (on a one-contract copy)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH")
    copy = tmp_path / "repo"
    (copy / "contracts" / "artifacts").mkdir(parents=True)
    shutil.copy2(CONTRACTS / "compile.mjs", copy / "contracts" / "compile.mjs")
    shutil.copy2(CONTRACTS / "TestERC20.sol", copy / "contracts" / "TestERC20.sol")  # self-contained: compiles fast
    (copy / "node_modules").symlink_to(REPO / "node_modules")
    committed = (CONTRACTS / "artifacts" / "TestERC20.json").read_text()
    target = copy / "contracts" / "artifacts" / "TestERC20.json"
    target.write_text(committed.replace('"runs": 200', '"runs": 201'))
    (copy / "contracts" / "artifacts" / "Gone.json").write_text("{}\n")

    r = subprocess.run([node, str(copy / "contracts" / "compile.mjs"), "--check"], cwd=copy, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "differs: contracts/artifacts/TestERC20.json" in r.stderr
    assert "stale (no source defines it): contracts/artifacts/Gone.json" in r.stderr

    # A compiler error fails loudly (exit 2, solc's message) and writes nothing.
    (copy / "contracts" / "Broken.sol").write_text("pragma solidity 0.8.37;\ncontract Broken { function f( }\n")
    r = subprocess.run([node, str(copy / "contracts" / "compile.mjs")], cwd=copy, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "solc failed" in r.stderr and "Broken.sol" in r.stderr, r.stdout + r.stderr
    assert target.read_text() != committed and (copy / "contracts" / "artifacts" / "Gone.json").exists()
