"""Dataset links go to the UI on the configured server; on the emulator they open its HTML page."""

from collections.abc import Iterator

import dagster as dg
import httpx
import pandas as pd
import pytest

from dagster_labeling.argilla import ArgillaClient, ArgillaResource, build_text_generation_dataset_asset
from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle

SECRET = "argilla-links-s3cr3t-KEY-51c9"


@pytest.fixture
def emu(argilla_emulator: ArgillaEmulatorHandle) -> Iterator[ArgillaEmulatorHandle]:
    old = argilla_emulator.state.api_key
    argilla_emulator.state.api_key = SECRET
    try:
        yield argilla_emulator
    finally:
        argilla_emulator.state.api_key = old


def page(url: str, status: int = 200) -> str:
    """GET a page like a browser does (no credentials); its HTML, after checking status and content type."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == status, (url, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    for secret in (SECRET, "emulator-key", "annotator-key-1"):  # the API key, and no user's key either
        assert secret not in response.text
    return response.text


def test_dataset_url_is_on_the_configured_server_without_credentials() -> None:
    with ArgillaClient("k", api_url="https://my-space.hf.space/") as client:
        assert client.dataset_url("d1") == "https://my-space.hf.space/dataset/d1/annotation-mode"
    with ArgillaClient("k", api_url="http://user:pw@127.0.0.1:6900/argilla?api_key=x") as client:
        assert client.dataset_url("a/b") == "http://127.0.0.1:6900/argilla/dataset/a%2Fb/annotation-mode"
    assert "annotation-mode" in (ArgillaResource.model_fields["api_url"].description or "")


def test_dataset_url_in_asset_metadata_opens_the_records_page(emu: ArgillaEmulatorHandle) -> None:
    @dg.asset
    def generations() -> pd.DataFrame:
        return pd.DataFrame({"instruction": ["2+2? <b>bold</b>", "Capital of France?"], "generation": ["4", "Paris"]})

    asset = build_text_generation_dataset_asset(name="review", upstream=generations, dataset_name="links-tg",
                                                workspace="links_ws", create_workspace=True)
    result = dg.materialize([generations, asset],
                            resources={"argilla": ArgillaResource(api_key=SECRET, api_url=emu.api_url)})
    assert result.success
    url = result.asset_materializations_for_node("review")[0].metadata["argilla/dataset_url"].value
    dataset = emu.state.dataset_by_name("links-tg")
    assert url == f"{emu.api_url}/dataset/{dataset['json']['id']}/annotation-mode"

    html = page(url)
    assert "Dataset links-tg" in html and "2+2? &lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    assert "0/2 completed" in html and html.count("pending") >= 2
    assert emu.state.annotate_all() >= 2
    html = page(url)
    assert "annotator-" in html and "submitted" in html  # the responses, by username
    assert "links-tg" in page(f"{emu.api_url}/")  # the datasets page the crumbs link to


def test_unknown_dataset_gets_a_404_page_and_the_api_is_unchanged(emu: ArgillaEmulatorHandle) -> None:
    with ArgillaClient(SECRET, api_url=emu.api_url) as client:
        assert "not found" in page(client.dataset_url("nope"), 404)
    response = httpx.get(f"{emu.api_url}/api/v1/datasets/nope")  # the API still wants its key, and answers JSON
    assert response.status_code == 401 and response.json() == {"detail": "Could not validate credentials"}
