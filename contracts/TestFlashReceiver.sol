// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20, safeApprove} from "./TokenUtils.sol";
import {IFlashLoanSimpleReceiver} from "./IAave.sol";

/// @title TestFlashReceiver
/// @notice Test-only Aave flash-loan receiver. Fund it with some of the asset to pay premiums, then have anyone call
///         pool.flashLoanSimple(receiver, ...). `mode` picks its behaviour:
///         0 = approve amount + premium and return true (a well-behaved borrower),
///         1 = return true without approving the repayment (the pool's transferFrom must fail),
///         2 = approve and return false (the pool must revert with INVALID_FLASHLOAN_EXECUTOR_RETURN),
///         3 = send the borrowed tokens away to `sink` and return true (cannot repay).
contract TestFlashReceiver is IFlashLoanSimpleReceiver {
    address public immutable POOL;
    uint8 public mode;
    address public sink;
    uint256 public lastAmount;
    uint256 public lastPremium;
    address public lastInitiator;
    uint256 public lastBalanceSeen;
    bytes public lastParams;

    constructor(address pool) {
        POOL = pool;
    }

    function setMode(uint8 mode_, address sink_) external {
        mode = mode_;
        sink = sink_;
    }

    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        returns (bool)
    {
        require(msg.sender == POOL, "TestFlashReceiver: caller is not the pool");
        lastAmount = amount;
        lastPremium = premium;
        lastInitiator = initiator;
        lastParams = params;
        lastBalanceSeen = IERC20(asset).balanceOf(address(this));
        if (mode == 3) IERC20(asset).transfer(sink, amount);
        if (mode != 1) safeApprove(asset, POOL, amount + premium);
        return mode != 2;
    }
}
