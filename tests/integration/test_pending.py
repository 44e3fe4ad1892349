"""`arb pending`: the owner's transactions still in the node's mempool."""

from __future__ import annotations

import json
import subprocess

from arb.chain.anvil import DEV_KEYS, Anvil, rpc
from arb.chain.client import Sender, account, make_web3
from arb.execute.pending import pending_transactions
from tests.conftest import REPO, child_env


def test_pending_shows_unmined_transactions(tmp_path):
    with Anvil(chain_id=31337) as a:
        w3 = make_web3(a.url)
        s = Sender(w3, account(DEV_KEYS[0]))
        rpc(a.url, "evm_setAutomine", [False])
        h = s.send({"to": account(DEV_KEYS[1]).address, "value": 1, "gas": 21_000}, wait=False)
        got = pending_transactions(a.url, s.address)
        assert got["in_mempool"] == 1 and got["txpool_available"]
        assert [t["hash"] for t in got["transactions"]] == ["0x" + h.hex().removeprefix("0x")]
        # The CLI reads the chains from a manifest.
        manifest = {"version": 1, "chains": {"ethereum": {
            "name": "ethereum", "chain_id": 31337, "sandbox": True, "rpc_url": a.url, "deployer": s.address,
            "native": "WETH", "tokens": {"WETH": {"address": s.address, "decimals": 18}}, "venues": {}}}}
        path = tmp_path / "m.json"
        path.write_text(json.dumps(manifest))
        p = subprocess.run([str(REPO / ".venv" / "bin" / "arb"), "pending", "--manifest", str(path)], cwd=tmp_path,
                           env=child_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["ethereum"]["in_mempool"] == 1
        rpc(a.url, "evm_mine")
        assert pending_transactions(a.url, s.address)["in_mempool"] == 0
