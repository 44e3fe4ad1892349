// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title BatchReader
/// @notice Reads the state of many AMM pools in one eth_call (about 200 pools per call is fine). It holds no
///         state and writes nothing: call it with eth_call (deployed, or without deploying through eth_call's state
///         override that puts its deployedBytecode at any address).
/// @dev A pool that reverts, has no code, returns too little data or out-of-range values, or burns more than
///      PER_CALL_GAS, does not revert the batch: its entries are zeros (and `ok[i]` false where reported).
contract BatchReader {
    /// @notice Gas given to each pool call, so one misbehaving pool cannot eat the batch's gas.
    uint256 public constant PER_CALL_GAS = 100_000;

    /// @notice UniswapV2Pair.getReserves() of each pair; zeros for a pair that could not be read.
    function getV2Reserves(address[] calldata pairs)
        external
        view
        returns (uint112[] memory r0, uint112[] memory r1, uint32[] memory ts)
    {
        uint256 n = pairs.length;
        r0 = new uint112[](n);
        r1 = new uint112[](n);
        ts = new uint32[](n);
        for (uint256 i = 0; i < n; ++i) {
            (bool ok, bytes memory ret) = pairs[i].staticcall{gas: PER_CALL_GAS}(hex"0902f1ac"); // getReserves()
            if (!ok || ret.length < 96) continue;
            (uint256 a, uint256 b, uint256 c) = abi.decode(ret, (uint256, uint256, uint256));
            if (a > type(uint112).max || b > type(uint112).max || c > type(uint32).max) continue;
            r0[i] = uint112(a);
            r1[i] = uint112(b);
            ts[i] = uint32(c);
        }
    }

    /// @notice UniswapV3Pool.slot0() price and tick, and liquidity(), of each pool; ok[i] is false (and the values
    ///         zero) for a pool that could not be read.
    function getV3States(address[] calldata pools)
        external
        view
        returns (uint160[] memory sqrtPriceX96, int24[] memory tick, uint128[] memory liquidity, bool[] memory ok)
    {
        uint256 n = pools.length;
        sqrtPriceX96 = new uint160[](n);
        tick = new int24[](n);
        liquidity = new uint128[](n);
        ok = new bool[](n);
        for (uint256 i = 0; i < n; ++i) {
            (bool ok0, bytes memory ret0) = pools[i].staticcall{gas: PER_CALL_GAS}(hex"3850c7bd"); // slot0()
            if (!ok0 || ret0.length < 64) continue;
            (bool ok1, bytes memory ret1) = pools[i].staticcall{gas: PER_CALL_GAS}(hex"1a686502"); // liquidity()
            if (!ok1 || ret1.length < 32) continue;
            uint256 p;
            int256 t;
            uint256 l;
            assembly ("memory-safe") {
                p := mload(add(ret0, 32))
                t := mload(add(ret0, 64))
                l := mload(add(ret1, 32))
            }
            if (p > type(uint160).max || t < type(int24).min || t > type(int24).max || l > type(uint128).max) continue;
            sqrtPriceX96[i] = uint160(p);
            tick[i] = int24(t);
            liquidity[i] = uint128(l);
            ok[i] = true;
        }
    }
}
