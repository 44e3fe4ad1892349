// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The flash-loan part of Aave V3's IPool, with Aave's exact signatures (so an ArbExecutor deployed against
///         the real Aave V3 Pool works unchanged).
interface IPool {
    /// @dev Aave V3 IPool.FlashLoan; `interestRateMode` is Aave's DataTypes.InterestRateMode enum (ABI uint8),
    ///      always 0 (NONE) for flashLoanSimple.
    event FlashLoan(
        address indexed target,
        address initiator,
        address indexed asset,
        uint256 amount,
        uint8 interestRateMode,
        uint256 premium,
        uint16 indexed referralCode
    );

    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external;

    function FLASHLOAN_PREMIUM_TOTAL() external view returns (uint128);

    function FLASHLOAN_PREMIUM_TO_PROTOCOL() external view returns (uint128);
}

/// @notice Aave V3's IFlashLoanSimpleReceiver callback (without ADDRESSES_PROVIDER()/POOL(), which Aave's receivers
///         expose as views but the Pool never calls).
interface IFlashLoanSimpleReceiver {
    /// @param asset the borrowed asset
    /// @param amount the borrowed amount
    /// @param premium the fee the receiver must pay on top of `amount`
    /// @param initiator the account that called flashLoanSimple
    /// @param params the bytes passed to flashLoanSimple
    /// @return true if the operation succeeded; the pool then pulls amount + premium with transferFrom
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external returns (bool);
}
