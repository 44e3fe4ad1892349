"""Compiled contract artifacts: ours (committed under contracts/artifacts/, compiled offline with solc-js) and the real
Uniswap ones (shipped compiled in npm packages, installed from package-lock.json by ``make setup``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from arb.errors import FatalError

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS = REPO_ROOT / "contracts" / "artifacts"
NODE = REPO_ROOT / "node_modules"

UNISWAP = {
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "WETH9": "@uniswap/v2-periphery/build/WETH9.json",
    "UniswapV3Factory": "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
    "QuoterV2": "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "SwapRouter": "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
    "NonfungiblePositionManager":
        "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
}


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list
    bytecode: str  # 0x-prefixed creation code
    deployed_bytecode: str = ""


def _hex(x: str | dict | None) -> str:
    if isinstance(x, dict):
        x = x.get("object", "")
    x = x or ""
    return x if x.startswith("0x") else "0x" + x


@cache
def load(name: str) -> Artifact:
    """An artifact by contract name: ours first, then Uniswap's."""
    ours = OURS / f"{name}.json"
    if ours.exists():
        d = json.loads(ours.read_text())
        return Artifact(name, d["abi"], _hex(d["bytecode"]), _hex(d.get("deployedBytecode")))
    rel = UNISWAP.get(name)
    if rel is None:
        raise FatalError(f"no artifact named {name!r} (ours: {OURS}; Uniswap: {', '.join(UNISWAP)})")
    path = NODE / rel
    if not path.exists():
        raise FatalError(f"{path} is missing: run `make setup` (npm ci installs the Uniswap packages)")
    d = json.loads(path.read_text())
    evm = d.get("evm", {})
    bytecode = d.get("bytecode") or evm.get("bytecode")
    deployed = d.get("deployedBytecode") or evm.get("deployedBytecode")
    return Artifact(name, d["abi"], _hex(bytecode), _hex(deployed))
