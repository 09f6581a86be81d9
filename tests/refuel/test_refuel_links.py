"""Web app links follow the configured API URL, and on the emulator they open its HTML pages."""

from typing import Any

import dagster as dg
import httpx
import pandas as pd
import pytest
from refuel_helpers import SENTIMENT

from dagster_labeling.refuel import RefuelClient, RefuelResource, build_refuel_dataset_asset, build_refuel_labels_asset
from dagster_labeling.refuel.client import DEFAULT_APP_URL, DEFAULT_BASE_URL, app_root
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

SECRET = "refuel-links-s3cr3t-KEY-0b7d"
DATASET = "reviews <i>&'links'"


@pytest.fixture
def emu(refuel_emulator: RefuelEmulatorHandle) -> Any:
    old = refuel_emulator.state.api_key
    refuel_emulator.state.api_key = SECRET
    yield refuel_emulator
    refuel_emulator.state.api_key = old


def res(emu: RefuelEmulatorHandle, **kw: Any) -> RefuelResource:
    return RefuelResource(**{"api_key": SECRET, "project": emu.project, "base_url": emu.base_url,
                             "label_rate_per_minute": None, "settle_seconds": 0.0, **kw})


def page(url: str, status: int = 200) -> str:
    """GET a page like a browser does (no credentials); its HTML, after checking status and content type."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == status, (url, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert SECRET not in response.text
    return response.text


def test_app_root_follows_the_api_url() -> None:
    assert app_root(DEFAULT_BASE_URL) == DEFAULT_APP_URL  # the real API: the real app
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):  # loopback: the emulator's pages
        assert app_root(f"http://{host}/refuel/") == f"http://{host}/refuel/app"
    assert app_root("https://refuel-proxy.corp.example/api") == DEFAULT_APP_URL  # a proxy: the real app
    assert app_root("http://127.0.0.1:8765/refuel", "https://app.corp/") == "https://app.corp"  # explicit wins
    assert app_root("http://k:pw@localhost:1/refuel?token=t") == "http://localhost:1/refuel/app"


def test_resource_field_defaults_to_none_and_is_documented(emu: RefuelEmulatorHandle) -> None:
    field = RefuelResource.model_fields["app_url"]
    assert field.default is None and "base_url" in (field.description or "")
    with res(emu).get_client() as client:
        assert client.dataset_url("d1") == f"{emu.server.url}/refuel/app/datasets/d1"
    with res(emu, app_url="https://app.example/").get_client() as client:
        assert client.task_url("t/1") == "https://app.example/tasks/t%2F1"
    with RefuelResource(api_key=SECRET, project="p").get_client() as client:
        assert client.task_url("t1") == f"{DEFAULT_APP_URL}/tasks/t1"


def test_dataset_and_task_urls_in_metadata_open_their_pages(emu: RefuelEmulatorHandle) -> None:
    @dg.asset(name="reviews")
    def reviews() -> pd.DataFrame:
        return pd.DataFrame({"text": ["a positive review", "so negative <script>x</script>"], "gt": ["p", "n"]})

    dataset = build_refuel_dataset_asset(name="reviews_dataset", upstream=reviews, dataset_name=DATASET)
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset=dataset, dataset_name=DATASET,
                                       task="sent links", fields=["sentiment"], poll_interval_seconds=0.02)
    resources = {"refuel": res(emu), "io_manager": dg.mem_io_manager}
    assert dg.materialize([reviews, dataset], resources=resources).success
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        c.create_task("sent links", DATASET, "ctx", [SENTIMENT])
    result = dg.materialize([reviews, dataset, labels], resources=resources)
    assert result.success

    dataset_url = result.asset_materializations_for_node("reviews_dataset")[0].metadata["refuel/dataset_url"].value
    assert dataset_url.startswith(f"{emu.server.url}/refuel/app/datasets/")
    html = page(dataset_url)
    assert "reviews &lt;i&gt;&amp;&#x27;links&#x27;" in html and "<i>&" not in html
    assert "so negative &lt;script&gt;" in html and "<script>x" not in html
    assert "sent links" in html  # the task run on it, linked

    run_url = result.asset_materializations_for_node("reviews_labels")[0].metadata["refuel/run_url"].value
    assert run_url.startswith(f"{emu.server.url}/refuel/app/tasks/")
    task_html = page(run_url)
    assert "Task sent links" in task_html and "completed" in task_html
    assert f'href="/refuel/app/datasets/{dataset_url.rsplit("/", 1)[1]}"' in task_html
    assert "reviews &lt;i&gt;" in page(f"{emu.server.url}/refuel/app")


def test_unknown_ids_get_a_404_page_and_the_api_is_unchanged(emu: RefuelEmulatorHandle) -> None:
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as client:
        assert "Dataset not found" in page(client.dataset_url("nope"), 404)
        assert "Task not found" in page(client.task_url("nope"), 404)
    response = httpx.get(f"{emu.base_url}/datasets/nope")  # the API still wants its key, and answers JSON
    assert response.status_code == 401 and response.json() == {"detail": "Unauthorized"}
