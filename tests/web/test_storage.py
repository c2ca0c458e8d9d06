from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage
from django.db.models.fields.files import FieldFile

from pynomaly_web.storage import local_path


class RemoteStorage(InMemoryStorage):
    """Like S3: no filesystem path to hand out."""

    def path(self, name):
        raise NotImplementedError("This backend doesn't support absolute paths.")


class _Field:
    """Just enough of a FileField for a FieldFile."""

    def __init__(self, storage):
        self.storage = storage


def _stored(storage, name, data):
    return FieldFile(None, _Field(storage), storage.save(name, ContentFile(data)))


def test_a_file_on_disk_is_used_where_it_lies(tmp_path):
    f = _stored(FileSystemStorage(location=tmp_path), "book.xlsx", b"PK\x03\x04")
    with local_path(f) as path:
        assert path == tmp_path / "book.xlsx"
    assert path.exists()  # never removed: it is the stored file


def test_a_remote_file_is_copied_under_its_own_name_and_the_copy_removed():
    f = _stored(RemoteStorage(), "data/book.xlsx", b"PK\x03\x04 and more")
    with local_path(f) as path:
        assert path.name == "book.xlsx"
        assert path.read_bytes() == b"PK\x03\x04 and more"
    assert not path.exists()
