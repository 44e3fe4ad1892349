"""prefect.yaml names real flows with parameters they accept (the full deploy is exercised by the operations work)."""

from __future__ import annotations

import importlib.util
import inspect

import yaml

from tests.conftest import REPO


def test_every_deployment_entrypoint_is_a_flow_with_those_parameters():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert spec["deployments"], "prefect.yaml declares no deployment"
    for dep in spec["deployments"]:
        path, func = dep["entrypoint"].split(":")
        s = importlib.util.spec_from_file_location(f"flowfile_{func}", REPO / path)
        mod = importlib.util.module_from_spec(s)
        s.loader.exec_module(mod)
        flow = getattr(mod, func)
        assert hasattr(flow, "fn") and flow.name == dep["entrypoint"].split(":")[1].replace("_", "-")
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(dep.get("parameters", {})) <= accepted, dep["name"]
