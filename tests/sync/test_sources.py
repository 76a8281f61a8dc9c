"""Sources on the local filesystem through fsspec: listing in name order, patterns,
checksums, gzip read transparently, clear errors for what cannot be read."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from traitflow.exceptions import TraitflowError
from traitflow.sync.sources import Source


def test_a_folder_lists_matching_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "traits-2026-11-02.csv").write_text("external_id\nb\n")
    (tmp_path / "traits-2026-11-01.csv.gz").write_bytes(gzip.compress(b"external_id\na\n"))
    (tmp_path / "notes.txt").write_text("not a csv")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.csv").write_text("external_id\nc\n")
    source = Source(str(tmp_path))
    names = [file.name for file in source.files()]
    assert names == ["sub/more.csv", "traits-2026-11-01.csv.gz", "traits-2026-11-02.csv"]
    matching = [file.name for file in Source(str(tmp_path), "traits-*").files()]
    assert matching == ["traits-2026-11-01.csv.gz", "traits-2026-11-02.csv"]


def test_gzip_is_read_decompressed_and_local_checksums_hash_the_bytes(tmp_path: Path) -> None:
    raw = gzip.compress(b"external_id\na\n")
    (tmp_path / "t.csv.gz").write_bytes(raw)
    source = Source(str(tmp_path / "t.csv.gz"))
    [file] = source.files()
    assert file.name == "t.csv.gz" and file.size == len(raw) and file.checksum == ""
    file = source.checksummed(file)
    assert file.checksum == hashlib.sha256(raw).hexdigest()
    with source.open(file) as stream:
        assert stream.read() == b"external_id\na\n"


def test_a_changed_file_has_another_identity(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("external_id\na\n")
    source = Source(str(path))
    before = source.checksummed(source.files()[0])
    path.write_text("external_id\nb\n")
    after = source.checksummed(source.files()[0])
    assert before.identity != after.identity


def test_what_cannot_be_read_says_so(tmp_path: Path) -> None:
    with pytest.raises(TraitflowError, match="no such file or folder"):
        Source(str(tmp_path / "missing")).files()
    with pytest.raises(TraitflowError, match=r"not a source .*give a path, s3://"):
        Source("nosuchprotocol://bucket/x")


def test_credentials_in_a_url_are_never_shown() -> None:
    source = Source("memory://key:secret@bucket/path?token=abc")
    assert "secret" not in source.shown and "abc" not in source.shown


def test_spellings_of_one_folder_share_one_key(tmp_path: Path) -> None:
    """The key names the sync's state: another spelling must not import everything again."""
    spellings = [str(tmp_path), f"{tmp_path}/", f"file://{tmp_path}"]
    assert len({Source(spelling).key for spelling in spellings}) == 1


def test_a_signed_urls_query_is_no_part_of_the_file_name() -> None:
    """The name is printed and recorded in the sync state: a presigned URL's query is a
    credential (``X-Amz-Signature``), never shown."""
    body = b"external_id,plan\nada,trial\n"

    class Serve(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

        def do_GET(self) -> None:
            self.do_HEAD()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        source = Source(f"http://127.0.0.1:{port}/exports/traits.csv?X-Amz-Signature=s3cr3t")
        [file] = source.files()
        assert file.name == "traits.csv" and "s3cr3t" not in source.shown
        with source.open(file) as stream:
            assert stream.read() == body
    finally:
        server.shutdown()
