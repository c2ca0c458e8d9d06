"""Deleting a dataset: confirmation, refusal while a run uses it, files removed."""

from apps.audit.models import AuditEvent
from apps.datasets.models import Dataset, DatasetVersion

from .helpers import stored_files, url


def test_delete_asks_for_confirmation_before_deleting(alice, alice_client, tenant_a, make_dataset):
    dataset = make_dataset(tenant_a, alice)
    response = alice_client.get(url("delete", tenant_a, pk=dataset.pk))
    assert response.status_code == 200
    assert ">Delete the dataset</button>" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_delete_removes_the_dataset_its_versions_and_files(
    alice, alice_client, tenant_a, make_dataset, media, django_capture_on_commit_callbacks
):
    dataset = make_dataset(tenant_a, alice)
    assert len(stored_files(media)) == 2  # original + Parquet
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url("delete", tenant_a, pk=dataset.pk))
    assert response.status_code == 302 and response["Location"] == url("list", tenant_a)
    assert not Dataset.objects.exists() and not DatasetVersion.objects.exists()
    assert stored_files(media) == []
    assert (
        AuditEvent.objects.filter(action="dataset.deleted", target_id=str(dataset.pk)).count() == 1
    )


def test_delete_is_refused_while_a_run_uses_the_dataset(
    alice, alice_client, tenant_a, make_dataset, run_for, media
):
    dataset = make_dataset(tenant_a, alice)
    run = run_for(dataset, status="running")
    page = alice_client.get(url("delete", tenant_a, pk=dataset.pk)).content.decode()
    assert f"used by run #{run.pk}" in page and ">Delete the dataset</button>" not in page

    response = alice_client.post(url("delete", tenant_a, pk=dataset.pk))
    assert response.status_code == 409
    assert f"used by run #{run.pk}, which is still active" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert len(stored_files(media)) == 2
    assert not AuditEvent.objects.filter(action="dataset.deleted").exists()


def test_a_finished_run_still_protects_the_dataset(
    alice, bob_client, tenant_a, make_dataset, run_for
):
    dataset = make_dataset(tenant_a, alice)
    run = run_for(dataset, status="succeeded")
    response = bob_client.post(url("delete", tenant_a, pk=dataset.pk))
    assert response.status_code == 409
    assert f"used by run #{run.pk}." in response.content.decode()


def test_the_service_refuses_too_not_only_the_view(alice, tenant_a, make_dataset, run_for):
    import pytest

    from apps.datasets.services import DatasetInUse, dataset_delete

    dataset = make_dataset(tenant_a, alice)
    run = run_for(dataset)
    with pytest.raises(DatasetInUse, match=f"used by run #{run.pk}"):
        dataset_delete(dataset=dataset, user=alice)
