// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {safeTransferFrom} from "./TokenUtils.sol";

interface IUniswapV3PoolMint {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256 amount0, uint256 amount1);
}

/// @title TestV3Minter
/// @notice Test/sandbox helper: adds liquidity to a real Uniswap V3 pool without the NonfungiblePositionManager.
///         The caller approves this contract for both tokens, then calls mint(pool, tickLower, tickUpper, liquidity);
///         the position belongs to this contract (sandbox liquidity is never removed).
contract TestV3Minter {
    address private transient _pool;
    address private transient _payer;

    function mint(address pool, int24 tickLower, int24 tickUpper, uint128 liquidity)
        external
        returns (uint256 amount0, uint256 amount1)
    {
        _pool = pool;
        _payer = msg.sender;
        (amount0, amount1) = IUniswapV3PoolMint(pool).mint(address(this), tickLower, tickUpper, liquidity, "");
        _pool = address(0);
    }

    function uniswapV3MintCallback(uint256 amount0Owed, uint256 amount1Owed, bytes calldata) external {
        require(msg.sender == _pool && msg.sender != address(0), "TestV3Minter: unexpected callback");
        IUniswapV3PoolMint pool = IUniswapV3PoolMint(msg.sender);
        if (amount0Owed > 0) safeTransferFrom(pool.token0(), _payer, msg.sender, amount0Owed);
        if (amount1Owed > 0) safeTransferFrom(pool.token1(), _payer, msg.sender, amount1Owed);
    }
}
