"""Where a sync reads files: a local file or folder, or object storage, through fsspec.

Object storage needs its fsspec backend (``pip install 'traitflow[s3]'``, ``[gcs]`` or
``[azure]``); credentials come from each provider's usual environment (``AWS_*``, Google's
application default credentials, ``AZURE_STORAGE_*``), never from traitflow's settings or
output. Files ending in ``.gz`` are decompressed while read.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from fsspec.core import url_to_fs

from traitflow.exceptions import TraitflowError
from traitflow.urls import shown

BACKENDS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}
CHECKSUM_FIELDS = ("ETag", "etag", "md5Hash", "content_md5", "crc32c")
MODIFIED_FIELDS = ("mtime", "LastModified", "last_modified", "updated")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a source, as listed: what tells a new file from one already imported."""

    name: str  # relative to the source
    path: str  # for the filesystem
    size: int
    modified: str  # as the provider says (mtime, LastModified), to skip hashing known files
    checksum: str  # the provider's (ETag, MD5); "" until ``Source.checksummed`` reads it

    @property
    def identity(self) -> str:
        """SHA-256 of name, size and checksum: the import's message ids derive from it."""
        text = f"{self.name}\0{self.size}\0{self.checksum}"
        return hashlib.sha256(text.encode()).hexdigest()


class Source:
    """A URL or path naming one file or a folder of files."""

    def __init__(self, location: str, pattern: str = "*.csv*") -> None:
        self.location = location
        self.pattern = pattern
        self.shown = shown(location)
        try:
            self.fs, self.root = url_to_fs(location)
        except (ImportError, ValueError) as exc:
            raise TraitflowError(_backend_hint(location, exc)) from None
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        self.key = f"{protocol}://{self.root.rstrip('/')}"  # one spelling per place

    def files(self) -> list[SourceFile]:
        """The files to consider, sorted by name (dated names sort in date order)."""
        self.fs.invalidate_cache()  # fsspec keeps listings: a new day's files must show
        try:
            if not self.fs.exists(self.root):
                raise FileNotFoundError(self.root)
            if self.fs.isfile(self.root):
                found = {self.root: self.fs.info(self.root)}
                base = self.root.rsplit("/", 1)[0] if "/" in self.root else ""
            else:
                found = self.fs.find(self.root, detail=True)
                base = self.root.rstrip("/")
        except FileNotFoundError:
            raise TraitflowError(f"{self.shown}: no such file or folder") from None
        except OSError as exc:
            raise TraitflowError(f"{self.shown}: cannot list: {exc}") from None
        files = []
        for path, info in sorted(found.items()):
            name = path[len(base) :].lstrip("/") if base else path
            if info.get("type", "file") == "file" and fnmatch.fnmatch(_base(name), self.pattern):
                files.append(_listed(_shown_name(name, path), path, info))
        return files

    def checksummed(self, file: SourceFile) -> SourceFile:
        """The file with a checksum: SHA-256 of its bytes where the provider gives none."""
        if file.checksum:
            return file
        digest = hashlib.sha256()
        with self.fs.open(file.path, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        return replace(file, checksum=digest.hexdigest())

    @contextmanager
    def open(self, file: SourceFile) -> Iterator[BinaryIO]:
        """The file's bytes, decompressed when its name ends in ``.gz``."""
        with self.fs.open(file.path, "rb", compression="infer") as stream:
            yield stream


def _listed(name: str, path: str, info: dict[str, Any]) -> SourceFile:
    modified = next((str(info[k]) for k in MODIFIED_FIELDS if info.get(k)), "")
    checksum = next((str(info[k]).strip('"') for k in CHECKSUM_FIELDS if info.get(k)), "")
    return SourceFile(name, path, int(info.get("size") or 0), modified, checksum)


def _shown_name(name: str, path: str) -> str:
    """A URL's file name without its query: a signed URL's query is a credential, and the
    name is printed and recorded in the sync state."""
    return name.split("?", 1)[0] if "://" in path else name


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _backend_hint(location: str, exc: Exception) -> str:
    protocol = location.split("://", 1)[0] if "://" in location else "file"
    extra = BACKENDS.get(protocol)
    if extra and isinstance(exc, ImportError):
        return f"{shown(location)}: {protocol}:// needs pip install 'traitflow[{extra}]'"
    return f"{shown(location)}: not a source ({exc}); give a path, s3://, gs:// or az:// URL"
