// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title TestERC20
/// @notice A plain, mintable ERC20 for sandbox chains (USDC 6 decimals, WBTC 8, DAI 18, ...). Standard semantics:
///         `transfer`/`transferFrom` return true or revert; an allowance of type(uint256).max is never decreased.
///         Only the owner (the deployer, unless ownership was transferred) can mint. Not for production use.
contract TestERC20 {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    address public owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @param name_ token name, e.g. "USD Coin"
    /// @param symbol_ token symbol, e.g. "USDC"
    /// @param decimals_ number of decimals, e.g. 6
    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "TestERC20: caller is not the owner");
        _;
    }

    /// @notice Create `amount` new tokens for `to` (owner only).
    function mint(address to, uint256 amount) external onlyOwner {
        require(to != address(0), "TestERC20: mint to the zero address");
        totalSupply += amount;
        unchecked {
            balanceOf[to] += amount; // cannot overflow: bounded by totalSupply
        }
        emit Transfer(address(0), to, amount);
    }

    /// @notice Destroy `amount` of the caller's tokens.
    function burn(uint256 amount) external {
        _debit(msg.sender, amount);
        unchecked {
            totalSupply -= amount; // cannot underflow: amount <= balance <= totalSupply
        }
        emit Transfer(msg.sender, address(0), amount);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "TestERC20: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "TestERC20: insufficient allowance");
            unchecked {
                allowance[from][msg.sender] = allowed - amount;
            }
        }
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        require(to != address(0), "TestERC20: transfer to the zero address");
        _debit(from, amount);
        unchecked {
            balanceOf[to] += amount; // cannot overflow: bounded by totalSupply
        }
        emit Transfer(from, to, amount);
    }

    function _debit(address from, uint256 amount) private {
        uint256 bal = balanceOf[from];
        require(bal >= amount, "TestERC20: transfer amount exceeds balance");
        unchecked {
            balanceOf[from] = bal - amount;
        }
    }
}
