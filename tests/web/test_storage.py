import io

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db.models.fields.files import FieldFile

from apps.common.storage import local_path


class _Field:
    """Just enough of a FileField for a FieldFile."""

    def __init__(self, storage):
        self.storage = storage


class RemoteFile:
    """A stored file on a backend without filesystem paths (S3 and the like)."""

    def __init__(self, name, data):
        self.name, self.data = name, data

    @property
    def path(self):
        raise NotImplementedError("This backend doesn't support absolute paths.")

    def open(self, mode="rb"):
        return io.BytesIO(self.data)


def test_a_file_on_disk_is_used_where_it_lies(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    f = FieldFile(None, _Field(storage), storage.save("book.xlsx", ContentFile(b"PK\x03\x04")))
    with local_path(f) as path:
        assert path == tmp_path / "book.xlsx"
    assert path.exists()  # never removed: it is the stored file


def test_a_remote_file_is_copied_under_its_own_name_and_the_copy_removed():
    with local_path(RemoteFile("data/book.xlsx", b"PK\x03\x04 and more")) as path:
        assert path.name == "book.xlsx"
        assert path.read_bytes() == b"PK\x03\x04 and more"
    assert not path.exists()
