// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20, safeTransfer, safeTransferFrom} from "./TokenUtils.sol";
import {IPool, IFlashLoanSimpleReceiver} from "./IAave.sol";

/// @title FlashLoanPool
/// @notice A single-owner flash-loan pool with Aave V3's exact `flashLoanSimple` interface and semantics, for sandbox
///         chains (Aave's compiled Pool needs seven linked libraries and a whole market).
///
///         Reproduced from Aave V3 (Pool.flashLoanSimple -> FlashLoanLogic.executeFlashLoanSimple):
///         1. premium = amount.percentMul(FLASHLOAN_PREMIUM_TOTAL), PercentageMath rounding half up:
///            (amount * premiumBps + 5000) / 10000;
///         2. `amount` of `asset` is transferred to `receiverAddress`;
///         3. receiver.executeOperation(asset, amount, premium, msg.sender, params) must return true, else revert
///            (Aave: Errors.INVALID_FLASHLOAN_EXECUTOR_RETURN; here the reason string
///            "FlashLoanPool: INVALID_FLASHLOAN_EXECUTOR_RETURN");
///         4. amount + premium is pulled from the receiver with transferFrom (the receiver must have approved it);
///         5. FlashLoan(target=receiver, initiator=msg.sender, asset, amount, interestRateMode=0, premium, referralCode).
///         Anyone may call flashLoanSimple for any receiver, as on Aave.
///
///         Differences from Aave: liquidity is this contract's own token balance (the owner deposits and withdraws;
///         tokens sent here directly count too); the whole premium stays in the pool (FLASHLOAN_PREMIUM_TO_PROTOCOL
///         is kept and reported like Aave's, but no treasury share is split off); every state-changing entry point
///         is non-reentrant (so no nested flash loans); the pool checks that its balance grew by the premium, which
///         only matters for fee-on-transfer tokens.
contract FlashLoanPool is IPool {
    /// @dev Aave PercentageMath: 100.00% = 1e4, half = 0.5e4.
    uint256 internal constant PERCENTAGE_FACTOR = 1e4;
    uint256 internal constant HALF_PERCENTAGE_FACTOR = 0.5e4;

    address public owner;
    uint128 internal _flashLoanPremiumTotal;
    uint128 internal _flashLoanPremiumToProtocol;
    bool private transient _locked;

    /// @dev Same events as Aave V3's PoolConfigurator.
    event FlashloanPremiumTotalUpdated(uint128 oldFlashloanPremiumTotal, uint128 newFlashloanPremiumTotal);
    event FlashloanPremiumToProtocolUpdated(uint128 oldFlashloanPremiumToProtocol, uint128 newFlashloanPremiumToProtocol);
    event Deposited(address indexed asset, address indexed from, uint256 amount);
    event Withdrawn(address indexed asset, address indexed to, uint256 amount);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    modifier onlyOwner() {
        require(msg.sender == owner, "FlashLoanPool: caller is not the owner");
        _;
    }

    modifier nonReentrant() {
        require(!_locked, "FlashLoanPool: reentrant call");
        _locked = true;
        _;
        _locked = false;
    }

    /// @notice The deployer becomes the owner; the premium starts at Aave V3's 5 bps (0.05%), none to the protocol.
    constructor() {
        owner = msg.sender;
        _flashLoanPremiumTotal = 5;
        emit OwnershipTransferred(address(0), msg.sender);
        emit FlashloanPremiumTotalUpdated(0, 5);
    }

    // ------------------------------------------------------------------ Aave V3 IPool (flash-loan part)

    /// @inheritdoc IPool
    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external nonReentrant {
        uint256 balanceBefore = IERC20(asset).balanceOf(address(this));
        require(amount <= balanceBefore, "FlashLoanPool: insufficient liquidity");
        uint256 totalPremium = _percentMul(amount, _flashLoanPremiumTotal);

        safeTransfer(asset, receiverAddress, amount);
        require(
            IFlashLoanSimpleReceiver(receiverAddress).executeOperation(asset, amount, totalPremium, msg.sender, params),
            "FlashLoanPool: INVALID_FLASHLOAN_EXECUTOR_RETURN"
        );

        safeTransferFrom(asset, receiverAddress, address(this), amount + totalPremium);
        require(
            IERC20(asset).balanceOf(address(this)) >= balanceBefore + totalPremium, "FlashLoanPool: repayment short"
        );
        emit FlashLoan(receiverAddress, msg.sender, asset, amount, 0, totalPremium, referralCode);
    }

    /// @inheritdoc IPool
    function FLASHLOAN_PREMIUM_TOTAL() external view returns (uint128) {
        return _flashLoanPremiumTotal;
    }

    /// @inheritdoc IPool
    function FLASHLOAN_PREMIUM_TO_PROTOCOL() external view returns (uint128) {
        return _flashLoanPremiumToProtocol;
    }

    // ------------------------------------------------------------------ governance (owner)

    /// @notice Set the flash-loan premium in bps of the amount (Aave: PoolConfigurator.updateFlashloanPremiumTotal).
    function updateFlashloanPremiumTotal(uint128 newFlashloanPremiumTotal) external onlyOwner {
        require(newFlashloanPremiumTotal <= PERCENTAGE_FACTOR, "FlashLoanPool: FLASHLOAN_PREMIUM_INVALID");
        emit FlashloanPremiumTotalUpdated(_flashLoanPremiumTotal, newFlashloanPremiumTotal);
        _flashLoanPremiumTotal = newFlashloanPremiumTotal;
    }

    /// @notice Set the protocol's share of the premium in bps of the premium (reported only; see the contract notes).
    function updateFlashloanPremiumToProtocol(uint128 newFlashloanPremiumToProtocol) external onlyOwner {
        require(newFlashloanPremiumToProtocol <= PERCENTAGE_FACTOR, "FlashLoanPool: FLASHLOAN_PREMIUM_INVALID");
        emit FlashloanPremiumToProtocolUpdated(_flashLoanPremiumToProtocol, newFlashloanPremiumToProtocol);
        _flashLoanPremiumToProtocol = newFlashloanPremiumToProtocol;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "FlashLoanPool: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ------------------------------------------------------------------ liquidity (owner)

    /// @notice Pull `amount` of `asset` from the owner into the pool (approve the pool first).
    function deposit(address asset, uint256 amount) external onlyOwner nonReentrant {
        safeTransferFrom(asset, msg.sender, address(this), amount);
        emit Deposited(asset, msg.sender, amount);
    }

    /// @notice Send `amount` of `asset` from the pool to the owner.
    function withdraw(address asset, uint256 amount) external onlyOwner nonReentrant {
        safeTransfer(asset, msg.sender, amount);
        emit Withdrawn(asset, msg.sender, amount);
    }

    /// @notice Tokens of `asset` available to borrow.
    function availableLiquidity(address asset) external view returns (uint256) {
        return IERC20(asset).balanceOf(address(this));
    }

    // ------------------------------------------------------------------ math

    /// @dev Aave V3 PercentageMath.percentMul: value * percentage / 1e4, rounded half up; reverts on overflow.
    function _percentMul(uint256 value, uint256 percentage) internal pure returns (uint256) {
        return (value * percentage + HALF_PERCENTAGE_FACTOR) / PERCENTAGE_FACTOR;
    }
}
