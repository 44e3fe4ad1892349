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


def test_no_orphaned_chain_when_the_parent_is_killed(tmp_path):
    import subprocess
    import sys
    import time

    code = ("from arb.chain.anvil import Anvil\nimport time\n"
            "a = Anvil(chain_id=4299).start()\nprint(a._proc.pid, flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no cleanup code runs in the parent
    parent.wait()
    deadline = time.monotonic() + 5
    alive = True
    while time.monotonic() < deadline and alive:
        try:
            with open(f"/proc/{child}/stat") as f:
                alive = f.read().split()[2] != "Z"
        except FileNotFoundError:
            alive = False
        time.sleep(0.05)
    assert not alive, "anvil outlived the process that started it"
