import doctest
import re
import warnings

import dagster as dg
import pytest

from dagster_labeling.callbacks import inbox, receiver, sensors, sources


@pytest.mark.parametrize("module", [inbox, sources, receiver])
def test_docstring_examples_run(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient-over-httpx deprecation notice
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_sensor_factory_docstring_example_builds_definitions(tmp_path):
    doc = sensors.build_callback_inbox_sensor.__doc__ or ""
    code = doc.split("Example::", 1)[1]
    lines = [line[8:] if line.startswith(" " * 8) else line.strip() for line in code.splitlines()]
    source = "\n".join(lines).replace("/var/lib/labeling/inbox.db", str(tmp_path / "inbox.db"))
    namespace: dict = {}
    exec(compile(source, "<docstring example>", "exec"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)
    assert re.search("scale_callbacks", repr([s.name for s in defs.sensors]))
    inbox.CallbackInbox(tmp_path / "inbox.db").add("scale", "t1:h", {"task_id": "t1"})
    with dg.instance_for_test() as instance:
        result = namespace["sensor"](dg.build_sensor_context(instance=instance))
    [rr] = result.run_requests
    assert rr.tags["scale/task_id"] == "t1" and rr.run_key == "callback:scale:t1:h"
