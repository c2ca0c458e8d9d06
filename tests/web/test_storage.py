import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.db.models.fields.files import FieldFile

from apps.common import storage as stored
from apps.common.storage import LocalCopies, content_key, delete_folder, local_path, open_copy


class _Field:
    """Just enough of a FileField for a FieldFile."""

    def __init__(self, storage):
        self.storage = storage


class RemoteStorage(Storage):
    """A backend without filesystem paths (S3 and the like): files only through open()."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.opened = 0

    def _open(self, name, mode="rb"):
        self.opened += 1
        if name not in self.files:
            raise FileNotFoundError(name)
        return ContentFile(self.files[name], name=name)

    def _save(self, name, content):
        self.files[name] = content.read()
        return name

    def exists(self, name):
        return name in self.files

    def delete(self, name):
        self.files.pop(name, None)

    def listdir(self, path):
        inside = [n.removeprefix(f"{path}/") for n in self.files if n.startswith(f"{path}/")]
        return sorted({n.split("/")[0] for n in inside if "/" in n}), [
            n for n in inside if "/" not in n
        ]


def test_a_file_on_disk_is_used_where_it_lies(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    f = FieldFile(None, _Field(storage), storage.save("book.xlsx", ContentFile(b"PK\x03\x04")))
    with local_path(f) as path:
        assert path == tmp_path / "book.xlsx"
    assert path.exists()  # never removed: it is the stored file


def test_a_remote_file_is_copied_under_its_own_name_and_the_copy_removed(tmp_path):
    storage = RemoteStorage()
    name = storage.save("data/book.xlsx", ContentFile(b"PK\x03\x04 and more"))
    with local_path(FieldFile(None, _Field(storage), name)) as path:
        assert path.name == "book.xlsx"
        assert path.read_bytes() == b"PK\x03\x04 and more"
        assert path != tmp_path / "data" / "book.xlsx"
    assert not path.exists()


def test_a_folder_is_deleted_with_its_files_and_a_missing_one_is_no_error(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    for name in ("fanout/t1/model.skops", "fanout/t1/part-0.npz", "fanout/t2/part-0.npz"):
        storage.save(name, ContentFile(b"x"))
    delete_folder("fanout/t1", storage)
    assert not (tmp_path / "fanout" / "t1").exists()
    assert (tmp_path / "fanout" / "t2" / "part-0.npz").exists()
    delete_folder("fanout/nothing-here", storage)


def test_a_folder_on_a_remote_storage_is_deleted_too():
    storage = RemoteStorage()
    storage.save("fanout/t1/part-0.npz", ContentFile(b"x"))
    delete_folder("fanout/t1", storage)
    assert not storage.exists("fanout/t1/part-0.npz")


def test_a_content_key_changes_with_the_content_and_never_names_a_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "REMOTE_KEY_SECONDS", 0)
    disk = FileSystemStorage(location=tmp_path)
    name = disk.save("runs/r.parquet", ContentFile(b"one"))
    first = content_key(name, disk)
    assert first[0] == str(tmp_path / "runs" / "r.parquet")
    disk.delete(name)
    disk.save(name, ContentFile(b"three"))
    assert content_key(name, disk) != first

    remote = RemoteStorage()
    name = remote.save("runs/r.parquet", ContentFile(b"one"))
    assert content_key(name, remote) == ("runs/r.parquet", 3)
    remote.files[name] = b"three"  # rewritten in place under its name
    assert content_key(name, remote) == ("runs/r.parquet", 5)


def test_a_missing_file_has_no_content_key(tmp_path):
    with pytest.raises(FileNotFoundError):
        content_key("gone.parquet", FileSystemStorage(location=tmp_path))
    with pytest.raises(FileNotFoundError):
        content_key("gone.parquet", RemoteStorage())


def test_a_remote_key_is_asked_once_for_a_burst_of_reads():
    remote = RemoteStorage()
    name = remote.save("runs/burst.parquet", ContentFile(b"one"))
    opened = remote.opened
    keys = {content_key(name, remote) for _ in range(20)}
    assert keys == {("runs/burst.parquet", 3)}
    assert remote.opened == opened + 1


def test_local_copies_fetch_each_content_once_and_drop_the_oldest(monkeypatch):
    monkeypatch.setattr(stored, "REMOTE_KEY_SECONDS", 0)
    remote = RemoteStorage()
    a = remote.save("runs/a.parquet", ContentFile(b"a" * 600))
    b = remote.save("runs/b.parquet", ContentFile(b"b" * 600))
    copies = LocalCopies(max_bytes=1000)

    def read(path):
        with open(path, "rb") as fh:
            return path, fh.read()

    first, data = copies.open(a, remote, read)
    assert data == b"a" * 600 and first.endswith(".parquet")
    assert copies.open(a, remote, read)[0] == first  # the same copy, not fetched again
    second, data = copies.open(b, remote, read)
    assert data == b"b" * 600
    assert not os.path.exists(first)  # over the limit: the least recently used is gone
    remote.files[b] = b"c" * 10  # new content under the name: a new copy
    assert copies.open(b, remote, read)[1] == b"c" * 10
    with pytest.raises(FileNotFoundError):
        copies.open("runs/gone.parquet", remote, read)


def test_open_copy_opens_a_file_on_disk_where_it_lies(tmp_path):
    disk = FileSystemStorage(location=tmp_path)
    name = disk.save("runs/r.parquet", ContentFile(b"PAR1"))
    assert open_copy(name, disk, str) == str(tmp_path / "runs" / "r.parquet")
