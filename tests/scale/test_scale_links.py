"""Dashboard links follow the configured API URL, and on the emulator they open its HTML pages."""

from collections.abc import Iterator

import dagster as dg
import httpx
import pandas as pd
import pytest

from dagster_labeling._core.links import is_loopback_host, link_root, public_root
from dagster_labeling.scale import ScaleClient, ScaleResource, build_scale_batch_asset
from dagster_labeling.scale.client import DEFAULT_BASE_URL, DEFAULT_DASHBOARD_URL, dashboard_root
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

SECRET_KEY = "live_links-s3cr3t-KEY-7e2a"
PROJECT = "links"
BATCH = "links <b>&\"batch\"/1"  # a name that needs escaping in HTML and in a path


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> Iterator[ScaleEmulatorHandle]:
    """The emulator with a distinctive API key (to look for it in pages) and a project."""
    old_key = scale_emulator.state.api_key
    scale_emulator.state.api_key = SECRET_KEY
    with ScaleClient(SECRET_KEY, base_url=scale_emulator.base_url) as client:
        client.create_project(PROJECT, "categorization")
    try:
        yield scale_emulator
    finally:
        scale_emulator.state.api_key = old_key


def page(url: str, status: int = 200) -> str:
    """GET a page like a browser does (no credentials); its HTML, after checking status and content type."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == status, (url, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert SECRET_KEY not in response.text
    return response.text


# -- the derivation rule ---------------------------------------------------------------------------------
def test_dashboard_root_follows_the_api_url() -> None:
    assert dashboard_root(DEFAULT_BASE_URL) == DEFAULT_DASHBOARD_URL  # the real API: the real dashboard
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):  # loopback: the emulator's pages
        assert dashboard_root(f"http://{host}/scale/v1/") == f"http://{host}/scale/dashboard"
    assert dashboard_root("https://scale-proxy.corp.example/v1") == DEFAULT_DASHBOARD_URL  # a proxy: the real one
    assert dashboard_root("http://127.0.0.1:8765/scale/v1", "https://dash.corp/") == "https://dash.corp"  # explicit
    assert dashboard_root(DEFAULT_BASE_URL, "http://127.0.0.1:1/x") == "http://127.0.0.1:1/x"
    # credentials and query written into the base URL never reach a link
    assert dashboard_root("http://u:pw@127.0.0.1:8765/scale/v1?api_key=k") == "http://127.0.0.1:8765/scale/dashboard"


def test_link_root_rule_without_platform_names() -> None:
    kw = {"real_root": "https://ui.example.com/", "local_path": "/ui/"}
    assert link_root("http://127.0.0.1:9/api", None, **kw) == "http://127.0.0.1:9/api/ui"
    assert link_root("http://127.0.0.1:9/api/v2", None, api_suffix="v2", **kw) == "http://127.0.0.1:9/api/ui"
    assert link_root("http://127.0.0.1:9/api", "  ", **kw) == "http://127.0.0.1:9/api/ui"  # blank: unset
    assert link_root("http://10.1.2.3/api", None, **kw) == "https://ui.example.com"
    assert link_root("not a url", None, **kw) == "https://ui.example.com"
    assert [is_loopback_host(h) for h in ("127.0.0.2", "LOCALHOST", "api.localhost", "example.com")] == [
        True, True, True, False]
    assert public_root("https://u:p@h.example/x/?token=t#f") == "https://h.example/x"


def test_resource_field_defaults_to_none_and_is_documented(emu: ScaleEmulatorHandle) -> None:
    field = ScaleResource.model_fields["dashboard_url"]
    assert field.default is None and "base_url" in (field.description or "")
    with ScaleResource(api_key=SECRET_KEY, base_url=emu.base_url).get_client() as client:
        assert client.dashboard_url == f"{emu.server.url}/scale/dashboard"
    with ScaleResource(api_key=SECRET_KEY, base_url=emu.base_url, dashboard_url="https://d.example").get_client() as c:
        assert c.batch_url("b") == "https://d.example/batches/b"
    with ScaleResource(api_key=SECRET_KEY).get_client() as client:
        assert client.task_url("t1") == f"{DEFAULT_DASHBOARD_URL}/tasks/t1"


# -- the emulator's pages ----------------------------------------------------------------------------------
def test_batch_url_in_asset_metadata_opens_the_batch_page(emu: ScaleEmulatorHandle) -> None:
    @dg.asset(name="reviews")
    def reviews() -> pd.DataFrame:
        return pd.DataFrame({"id": ["r0", "r1"], "text": ["good", "bad <script>alert(1)</script>"]})

    batch = build_scale_batch_asset(
        name="reviews_batch", upstream=reviews, project=PROJECT, task_type="categorization", row_key_column="id",
        payload_columns={"attachment": "text"}, batch_name_prefix=BATCH,
        static_payload={"instruction": "Sentiment?", "attachment_type": "text", "categories": ["pos", "neg"]})
    result = dg.materialize([reviews, batch], resources={
        "scale": ScaleResource(api_key=SECRET_KEY, base_url=emu.base_url), "io_manager": dg.mem_io_manager})
    assert result.success
    url = result.asset_materializations_for_node("reviews_batch")[0].metadata["scale/batch_url"].value
    assert url.startswith(f"{emu.server.url}/scale/dashboard/batches/")

    html = page(url)
    assert "links &lt;b&gt;&amp;&quot;batch&quot;/1" in html and "<b>&" not in html  # the name, escaped
    assert "<script>alert" not in html
    task_ids = list(emu.state.tasks)
    assert len(task_ids) == 2 and all(t in html for t in task_ids)

    with ScaleClient(SECRET_KEY, base_url=emu.base_url) as client:
        task_html = page(client.task_url(task_ids[1]))
        assert "bad &lt;script&gt;alert(1)&lt;/script&gt;" in task_html
        assert f'href="/scale/dashboard/batches/{httpx.URL(url).raw_path.decode().rsplit("/", 1)[1]}"' in task_html
        index = page(client.dashboard_url)
        assert "links &lt;b&gt;" in index


def test_unknown_ids_get_a_404_page_and_the_api_is_unchanged(emu: ScaleEmulatorHandle) -> None:
    with ScaleClient(SECRET_KEY, base_url=emu.base_url) as client:
        assert "nope" in page(client.batch_url("nope"), 404)
        page(client.task_url("nope"), 404)
    # the API still wants its key, and answers JSON
    response = httpx.get(f"{emu.base_url}/batches/nope")
    assert response.status_code == 401 and response.headers["content-type"] == "application/json"
    # a page path other than GET is not a page
    assert httpx.post(f"{emu.server.url}/scale/dashboard").status_code == 401


def test_callback_credentials_never_shown(emu: ScaleEmulatorHandle) -> None:
    with ScaleClient(SECRET_KEY, base_url=emu.base_url) as client:
        task = client.create_task("categorization", project=PROJECT, attachment="x", categories=["a", "b"],
                                  callback_url="https://user:hunter22@cb.example/hook?token=tok-123",
                                  metadata={"api_key": "meta-secret-1", "keywords": "shown"})
        html = page(client.task_url(task.task_id))
    assert "hunter22" not in html and "tok-123" not in html and "meta-secret-1" not in html
    assert "cb.example/hook" in html and "shown" in html
