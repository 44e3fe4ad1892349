// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice The part of ERC20 our contracts use.
interface IERC20 {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function allowance(address owner, address spender) external view returns (uint256);
}

// Free functions (no library, so no extra artifact and no linking): ERC20 calls that accept tokens returning nothing
// (USDT-style) and revert with a clear reason when the token reverts or returns false.

function _callToken(address token, bytes memory data, string memory reason) {
    require(token.code.length > 0, "TokenUtils: token has no code");
    (bool ok, bytes memory ret) = token.call(data);
    require(ok && (ret.length == 0 || abi.decode(ret, (bool))), reason);
}

function safeTransfer(address token, address to, uint256 amount) {
    _callToken(token, abi.encodeCall(IERC20.transfer, (to, amount)), "TokenUtils: transfer failed");
}

function safeTransferFrom(address token, address from, address to, uint256 amount) {
    _callToken(token, abi.encodeCall(IERC20.transferFrom, (from, to, amount)), "TokenUtils: transferFrom failed");
}

function safeApprove(address token, address spender, uint256 amount) {
    _callToken(token, abi.encodeCall(IERC20.approve, (spender, amount)), "TokenUtils: approve failed");
}
