"""Dataset pages: list, detail with profile, HTMX preview paging, status polling, download."""

import re

from apps.datasets.models import Dataset

from .helpers import ROWS, frame, post_file, url, write


def test_the_list_shows_name_status_and_the_latest_shape(
    alice, alice_client, tenant_a, make_dataset
):
    make_dataset(tenant_a, alice, name="sensors")
    html = alice_client.get(url("list", tenant_a)).content.decode()
    assert "sensors" in html
    assert 'data-status="ready"' in html
    assert f"v1 · {ROWS} rows × 4 columns" in html


def test_the_detail_page_shows_the_profile_warnings_and_versions(
    alice, alice_client, tenant_a, make_dataset
):
    df = frame()
    df["flat"] = 0
    dataset = make_dataset(tenant_a, alice, df=df)
    html = alice_client.get(url("detail", tenant_a, pk=dataset.pk)).content.decode()
    assert 'id="profile"' in html and 'id="versions"' in html and 'id="preview"' in html
    assert "holds a single value" in html  # the constant column's warning
    assert 'role="img" aria-label="Histogram of value' in html
    assert "hx-trigger" not in html  # nothing to poll once ready


def test_preview_paging_returns_the_right_rows(alice, alice_client, tenant_a, make_dataset):
    dataset = make_dataset(tenant_a, alice)
    response = alice_client.get(url("preview", tenant_a, pk=dataset.pk, number=1) + "?page=2")
    html = response.content.decode()
    assert "Rows 51–100 of 120" in html
    rows = re.findall(
        r'<tr><td class="px-2 py-1 text-right text-slate-400">(\d+)</td><td[^>]*>(\d+)</td>', html
    )
    assert [int(r[1]) for r in rows] == list(range(50, 100))  # the "row" column holds 0..119
    assert "<html" in html  # without htmx: the whole page


def test_preview_with_htmx_returns_only_the_partial(alice, alice_client, tenant_a, make_dataset):
    dataset = make_dataset(tenant_a, alice)
    response = alice_client.get(
        url("preview", tenant_a, pk=dataset.pk, number=1) + "?page=3",
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "<html" not in html and 'id="profile"' not in html
    assert html.strip().startswith('<section class="mt-6" id="preview"')
    assert "Rows 101–120 of 120" in html


def test_every_preview_link_keeps_its_href(alice, alice_client, tenant_a, make_dataset):
    dataset = make_dataset(tenant_a, alice)
    html = alice_client.get(
        url("preview", tenant_a, pk=dataset.pk, number=1) + "?page=2"
    ).content.decode()
    links = re.findall(r"<a [^>]*hx-get=[^>]*>", html)
    assert len(links) == 2  # previous and next
    for link in links:
        assert re.search(r'href="([^"]+)"', link).group(1) == re.search(
            r'hx-get="([^"]+)"', link
        ).group(1)


def test_a_page_past_the_end_shows_the_last_page(alice, alice_client, tenant_a, make_dataset):
    dataset = make_dataset(tenant_a, alice)
    html = alice_client.get(
        url("preview", tenant_a, pk=dataset.pk, number=1) + "?page=99"
    ).content.decode()
    assert "Page 3 of 3" in html


def test_while_ingesting_the_status_polls_and_refreshes_the_page_when_done(
    alice_client, tenant_a, tmp_path
):
    from .helpers import ingest_latest

    post_file(alice_client, tenant_a, write("csv", tmp_path), name="sensors")
    dataset = Dataset.objects.get()
    status_url = url("status", tenant_a, pk=dataset.pk)
    page = alice_client.get(url("detail", tenant_a, pk=dataset.pk)).content.decode()
    assert f'hx-get="{status_url}" hx-trigger="every 2s"' in page
    assert "Ingesting sensors.csv" in page

    partial = alice_client.get(status_url, headers={"HX-Request": "true"})
    assert partial.content.decode().strip().startswith('<div id="dataset-status"')
    assert "every 2s" in partial.content.decode()

    ingest_latest()
    done = alice_client.get(status_url, headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"
    assert alice_client.get(status_url)["Location"] == url("detail", tenant_a, pk=dataset.pk)


def test_download_returns_the_original_bytes_under_the_original_name(
    alice_client, tenant_a, tmp_path
):
    from .helpers import ingest_latest

    path = write("xlsx", tmp_path, stem="Plant Readings")
    post_file(alice_client, tenant_a, path)
    upload = ingest_latest()
    response = alice_client.get(url("download", tenant_a, pk=upload.dataset_id, number=1))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == path.read_bytes()
    assert response["Content-Disposition"] == 'attachment; filename="Plant Readings.xlsx"'


def test_an_older_version_has_its_own_page(alice, alice_client, tenant_a, make_dataset, tmp_path):
    from apps.datasets.services import dataset_create_from_path

    dataset = make_dataset(tenant_a, alice)
    path = write("csv", tmp_path, frame(rows=30, seed=9), stem="smaller")
    dataset_create_from_path(
        tenant=tenant_a, user=alice, path=path, name=dataset.name, ingest_now=True
    )
    html = alice_client.get(url("version", tenant_a, pk=dataset.pk, number=1)).content.decode()
    assert "Version 1" in html and "(not the latest)" in html and "of 120" in html
    assert "Version 2" in alice_client.get(url("detail", tenant_a, pk=dataset.pk)).content.decode()
    assert alice_client.get(url("version", tenant_a, pk=dataset.pk, number=3)).status_code == 404
