// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20, safeApprove, safeTransfer} from "./TokenUtils.sol";
import {IPool, IFlashLoanSimpleReceiver} from "./IAave.sol";

interface IUniswapV2PairLike {
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

interface IUniswapV3PoolLike {
    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);
}

/// @title ArbExecutor
/// @notice Flash-loan arbitrage executor: borrows `amount` of `asset` from an Aave-V3-compatible pool
///         (`flashLoanSimple`), runs a cycle of exact-input swaps over Uniswap-V2-style pairs and Uniswap V3 pools that
///         ends in `asset`, repays amount + premium and sends the profit to the owner, or reverts the whole
///         transaction if the profit is below `minProfit`.
/// @dev Integer results are exact and predictable off-chain:
///      - a V2 hop outputs  amountIn*(10000-fee)*rOut / (rIn*10000 + amountIn*(10000-fee))  from the pair's reserves
///        at the time of the hop (fee in bps; fee 30 equals Uniswap's 997/1000 getAmountOut);
///      - a V3 hop outputs what the pool's swap returns (QuoterV2 predicts it exactly);
///      - premium = (amount * FLASHLOAN_PREMIUM_TOTAL + 5000) / 10000 (computed by the pool, Aave's rounding);
///      - profit = amountOut - amount - premium, where amountOut = this contract's balance of `asset` after the last
///        hop minus its balance before the loan (tokens already held here are never counted as profit).
///      Tokens must be plain ERC20s (no fee on transfer, no rebasing).
contract ArbExecutor is IFlashLoanSimpleReceiver {
    /// @notice Hop kinds.
    uint8 public constant KIND_UNISWAP_V2 = 0;
    uint8 public constant KIND_UNISWAP_V3 = 1;

    /// @dev TickMath.MIN_SQRT_RATIO / MAX_SQRT_RATIO from Uniswap V3 core.
    uint160 internal constant MIN_SQRT_RATIO = 4295128739;
    uint160 internal constant MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342;

    /// @notice One swap of a route.
    /// @param kind 0 = Uniswap-V2-style pair (UniswapV2, SushiSwap, QuickSwap), 1 = Uniswap V3 pool
    /// @param pool the pair / pool address
    /// @param tokenIn the token this hop sells (the previous hop's tokenOut; the first hop sells the loan asset)
    /// @param tokenOut the token this hop buys (the last hop must buy the loan asset)
    /// @param fee V2 only: the pair's fee in bps (30 for UniswapV2/SushiSwap/QuickSwap); unused for V3
    struct Hop {
        uint8 kind;
        address pool;
        address tokenIn;
        address tokenOut;
        uint24 fee;
    }

    /// @notice The flash-loan pool (Aave V3 Pool or our FlashLoanPool).
    IPool public immutable POOL;
    /// @notice Receives the profit; the only account that can execute or withdraw.
    address public owner;

    // Per-transaction state (EIP-1153 transient storage, cleared at the end of every transaction).
    uint256 private transient _baseline; // balance of the loan asset before the loan
    uint256 private transient _profit; // profit of the current execute, returned by execute
    address private transient _v3Pool; // the only pool allowed to call uniswapV3SwapCallback right now
    address private transient _v3TokenIn; // the token it is owed
    uint256 private transient _v3MaxIn; // at most this much

    /// @notice Emitted once per successful arbitrage.
    /// @param asset the borrowed (and returned) token
    /// @param amount the borrowed amount
    /// @param premium the flash-loan fee paid
    /// @param profit amountOut - amount - premium, sent to the owner
    /// @param amountOut what the route produced, in `asset`
    event ArbExecuted(address indexed asset, uint256 amount, uint256 premium, uint256 profit, uint256 amountOut);
    /// @notice The owner withdrew `amount` of `token` (address(0) for ETH).
    event Withdrawn(address indexed token, address indexed to, uint256 amount);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    modifier onlyOwner() {
        require(msg.sender == owner, "ArbExecutor: caller is not the owner");
        _;
    }

    /// @param pool the Aave-V3-compatible flash-loan pool
    constructor(address pool) {
        require(pool != address(0), "ArbExecutor: pool is the zero address");
        POOL = IPool(pool);
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    receive() external payable {}

    // ------------------------------------------------------------------ entry point

    /// @notice Borrow `amount` of `asset`, run `hops`, repay, and send the profit (>= minProfit) to the owner.
    /// @dev Reverts with "ArbExecutor: cannot repay loan" if the route returns less than amount + premium, and with
    ///      "ArbExecutor: profit below minProfit" if it can repay but earns less than minProfit. eth_call it to
    ///      simulate: it returns the profit.
    /// @param asset the token to borrow; the route must start and end in it
    /// @param amount how much to borrow (the first hop's input)
    /// @param hops the route: each hop sells its whole input, the previous hop's output
    /// @param minProfit the least profit (in `asset` base units, after the premium) worth keeping the trade
    /// @return profit what the owner received, in `asset` base units
    function execute(address asset, uint256 amount, Hop[] calldata hops, uint256 minProfit)
        external
        onlyOwner
        returns (uint256 profit)
    {
        require(amount > 0, "ArbExecutor: zero amount");
        uint256 n = hops.length;
        require(n > 0, "ArbExecutor: empty route");
        require(hops[0].tokenIn == asset, "ArbExecutor: route must start with the loan asset");
        for (uint256 i = 1; i < n; ++i) {
            require(hops[i].tokenIn == hops[i - 1].tokenOut, "ArbExecutor: broken route");
        }
        require(hops[n - 1].tokenOut == asset, "ArbExecutor: route must end in the loan asset");

        _baseline = IERC20(asset).balanceOf(address(this));
        POOL.flashLoanSimple(address(this), asset, amount, abi.encode(hops, minProfit), 0);
        profit = _profit;
    }

    // ------------------------------------------------------------------ callbacks

    /// @inheritdoc IFlashLoanSimpleReceiver
    /// @dev Only the pool, and only for a loan this contract started (hence from `execute`).
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external returns (bool) {
        require(msg.sender == address(POOL), "ArbExecutor: caller is not the pool");
        require(initiator == address(this), "ArbExecutor: loan not initiated by this contract");
        (Hop[] memory hops, uint256 minProfit) = abi.decode(params, (Hop[], uint256));

        uint256 amountIn = amount;
        for (uint256 i = 0; i < hops.length; ++i) {
            Hop memory h = hops[i];
            if (h.kind == KIND_UNISWAP_V2) {
                amountIn = _swapV2(h, amountIn);
            } else if (h.kind == KIND_UNISWAP_V3) {
                amountIn = _swapV3(h, amountIn);
            } else {
                revert("ArbExecutor: unknown hop kind");
            }
        }

        uint256 balance = IERC20(asset).balanceOf(address(this));
        uint256 baseline = _baseline;
        uint256 amountOut = balance > baseline ? balance - baseline : 0;
        uint256 owed = amount + premium;
        require(amountOut >= owed, "ArbExecutor: cannot repay loan");
        uint256 profit = amountOut - owed;
        require(profit >= minProfit, "ArbExecutor: profit below minProfit");

        safeApprove(asset, address(POOL), owed);
        if (profit > 0) safeTransfer(asset, owner, profit);
        _profit = profit;
        emit ArbExecuted(asset, amount, premium, profit, amountOut);
        return true;
    }

    /// @notice Uniswap V3 swap callback: pays the pool being swapped right now, and nobody else, at most once.
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata) external {
        address pool = _v3Pool;
        require(pool != address(0) && msg.sender == pool, "ArbExecutor: unexpected V3 callback");
        _v3Pool = address(0);
        int256 owedDelta = amount0Delta > 0 ? amount0Delta : amount1Delta;
        require(owedDelta > 0 && uint256(owedDelta) <= _v3MaxIn, "ArbExecutor: bad V3 callback amount");
        safeTransfer(_v3TokenIn, pool, uint256(owedDelta));
    }

    // ------------------------------------------------------------------ swaps

    /// @dev Exact-input swap on a Uniswap-V2-style pair; the output comes to this contract.
    function _swapV2(Hop memory h, uint256 amountIn) private returns (uint256 amountOut) {
        require(h.fee < 10000, "ArbExecutor: bad V2 fee");
        (uint112 reserve0, uint112 reserve1,) = IUniswapV2PairLike(h.pool).getReserves();
        bool zeroForOne = h.tokenIn < h.tokenOut; // pairs sort their tokens by address
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        uint256 amountInWithFee = amountIn * (10000 - h.fee);
        amountOut = (amountInWithFee * reserveOut) / (reserveIn * 10000 + amountInWithFee);
        require(amountOut > 0, "ArbExecutor: V2 hop outputs nothing");
        safeTransfer(h.tokenIn, h.pool, amountIn);
        (uint256 amount0Out, uint256 amount1Out) = zeroForOne ? (uint256(0), amountOut) : (amountOut, uint256(0));
        IUniswapV2PairLike(h.pool).swap(amount0Out, amount1Out, address(this), "");
    }

    /// @dev Exact-input swap on a Uniswap V3 pool with no price limit; the pool is paid in uniswapV3SwapCallback.
    function _swapV3(Hop memory h, uint256 amountIn) private returns (uint256 amountOut) {
        require(amountIn <= uint256(type(int256).max), "ArbExecutor: V3 amount too large");
        bool zeroForOne = h.tokenIn < h.tokenOut;
        _v3Pool = h.pool;
        _v3TokenIn = h.tokenIn;
        _v3MaxIn = amountIn;
        (int256 amount0, int256 amount1) = IUniswapV3PoolLike(h.pool).swap(
            address(this), zeroForOne, int256(amountIn), zeroForOne ? MIN_SQRT_RATIO + 1 : MAX_SQRT_RATIO - 1, ""
        );
        require(_v3Pool == address(0), "ArbExecutor: V3 pool was not paid");
        int256 received = zeroForOne ? -amount1 : -amount0;
        require(received > 0, "ArbExecutor: V3 hop outputs nothing");
        amountOut = uint256(received);
    }

    // ------------------------------------------------------------------ owner

    /// @notice Send `amount` of `token` held here to the owner (anything stuck).
    function withdraw(address token, uint256 amount) external onlyOwner {
        safeTransfer(token, owner, amount);
        emit Withdrawn(token, owner, amount);
    }

    /// @notice Send `amount` wei held here to the owner.
    function withdrawETH(uint256 amount) external onlyOwner {
        (bool ok,) = payable(owner).call{value: amount}("");
        require(ok, "ArbExecutor: ETH transfer failed");
        emit Withdrawn(address(0), owner, amount);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "ArbExecutor: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }
}
