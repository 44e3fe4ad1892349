from arb.chain.anvil import STARTED, Anvil, rpc


def test_two_sandboxes_on_free_ports_with_their_own_chain_ids():
    with Anvil(chain_id=31337) as eth, Anvil(chain_id=31338) as pol:
        assert eth.port != pol.port and eth.url.startswith("http://127.0.0.1:")
        assert int(rpc(eth.url, "eth_chainId"), 16) == 31337
        assert int(rpc(pol.url, "eth_chainId"), 16) == 31338
        assert STARTED[eth.url] == 31337 and eth.healthy()
        snap = eth.snapshot()
        eth.mine(3)
        assert int(rpc(eth.url, "eth_blockNumber"), 16) == 3
        assert eth.revert(snap) and int(rpc(eth.url, "eth_blockNumber"), 16) == 0
    assert eth.url not in STARTED and not eth.healthy()
