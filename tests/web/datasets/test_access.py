"""Roles and tenancy: viewers look, strangers get 404 on every dataset URL."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.models import Dataset

from .helpers import url


@pytest.fixture
def dataset_a(alice, tenant_a, make_dataset):
    return make_dataset(tenant_a, alice, name="acme-secret-readings")


def _urls(tenant, dataset):
    pk = dataset.pk
    return [
        url("detail", tenant, pk=pk),
        url("status", tenant, pk=pk),
        url("delete", tenant, pk=pk),
        url("version", tenant, pk=pk, number=1),
        url("preview", tenant, pk=pk, number=1),
        url("download", tenant, pk=pk, number=1),
    ]


def test_a_viewer_gets_403_on_the_upload_page_and_post(vera_client, tenant_a):
    assert vera_client.get(url("upload", tenant_a)).status_code == 403
    response = vera_client.post(
        url("upload", tenant_a), {"file": SimpleUploadedFile("a.csv", b"a,b\n1,2\n")}
    )
    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_a_viewer_gets_403_on_delete(vera_client, tenant_a, dataset_a):
    assert vera_client.get(url("delete", tenant_a, pk=dataset_a.pk)).status_code == 403
    assert vera_client.post(url("delete", tenant_a, pk=dataset_a.pk)).status_code == 403
    assert Dataset.objects.filter(pk=dataset_a.pk).exists()


def test_a_viewer_may_look_at_everything_but_sees_no_upload_or_delete_buttons(
    vera_client, tenant_a, dataset_a
):
    for address in [url("list", tenant_a)] + [
        u for u in _urls(tenant_a, dataset_a) if "/delete/" not in u
    ]:
        assert vera_client.get(address).status_code in (200, 302), address
    html = vera_client.get(url("detail", tenant_a, pk=dataset_a.pk)).content.decode()
    assert (
        url("upload", tenant_a) not in html and url("delete", tenant_a, pk=dataset_a.pk) not in html
    )


def test_a_stranger_gets_404_on_every_dataset_url(charlie_client, tenant_a, dataset_a):
    for address in [url("list", tenant_a), url("upload", tenant_a)] + _urls(tenant_a, dataset_a):
        for method in ("get", "post"):
            response = getattr(charlie_client, method)(address)
            assert response.status_code == 404, (method, address)
            assert b"acme-secret-readings" not in response.content


def test_another_tenants_dataset_id_answers_404_inside_my_own_workspace(
    charlie_client, tenant_b, dataset_a
):
    for address in _urls(tenant_b, dataset_a):
        assert charlie_client.get(address).status_code == 404, address
    assert charlie_client.post(url("delete", tenant_b, pk=dataset_a.pk)).status_code == 404
    assert Dataset.objects.filter(pk=dataset_a.pk).exists()


def test_my_list_never_shows_another_tenants_datasets(
    charlie, charlie_client, tenant_b, dataset_a, make_dataset
):
    make_dataset(tenant_b, charlie, name="bravo-own")
    html = charlie_client.get(url("list", tenant_b)).content.decode()
    assert "bravo-own" in html
    assert "acme-secret-readings" not in html
