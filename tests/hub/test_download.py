"""Downloads against a real HTTP server on 127.0.0.1 (a thread in the test): resume, broken transfers,
bad answers, safe unpacking into the layouts i2i reads, and the `data download` / `weights` commands.
Nothing here touches the network."""

from __future__ import annotations

import io
import re
import socket
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from i2i.checkpoint import read_header
from i2i.cli import app
from i2i.data.paired import find_pairs
from i2i.data.unpaired import find_domain_files
from i2i.errors import I2IError
from i2i.hub.download import download, download_dataset, download_pretrained

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
runner = CliRunner()


class FileServer:
    """Serves `files` (URL path → bytes) with Range support. `mode`: "normal"; "ignore_range" (always the
    whole file, status 200); "drop" (announces the whole file, sends half, closes the connection);
    "stall" (sends half, then nothing for 0.5 s); "no_length" (no Content-Length: the body ends when
    the connection closes)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode = "normal"
        self.ranges: list[str | None] = []  # the Range header of every GET, in order
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.ranges.append(self.headers.get("Range"))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                asked = self.headers["Range"]
                honoured = asked and server.mode != "ignore_range"
                first = int(re.fullmatch(r"bytes=(\d+)-", asked)[1]) if honoured else 0
                if first >= len(body) and first > 0:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if first else 200)
                if first:
                    self.send_header("Content-Range", f"bytes {first}-{len(body) - 1}/{len(body)}")
                if server.mode != "no_length":
                    self.send_header("Content-Length", str(len(body) - first))
                self.end_headers()
                sent = body[first:]
                self.wfile.write(sent[: len(sent) // 2] if server.mode in ("drop", "stall") else sent)
                if server.mode == "stall":
                    self.wfile.flush()
                    time.sleep(0.5)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture(autouse=True)
def direct_connections(monkeypatch):
    """urllib honours proxy variables; the servers here live on 127.0.0.1 and must be reached directly."""
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def server(monkeypatch, tmp_path):
    files = FileServer()
    # A short poll interval: shutdown() waits for one, and every test shuts its server down.
    thread = threading.Thread(target=files.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setenv("I2I_DOWNLOAD_BASE_URL", files.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield files
    files.httpd.shutdown()
    files.httpd.server_close()


def png(seed: int, width: int = 8) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (8, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes | Path]) -> bytes:
    """A .tar.gz of files (bytes) and symbolic links (Path: the link's target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, Path):
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


HORSE2ZEBRA = "/cyclegan/datasets/horse2zebra.zip"
FACADES = "/pix2pix/datasets/facades.tar.gz"


def serve_horse2zebra(server: FileServer) -> None:
    """The release's layout: one top folder `horse2zebra/` holding trainA trainB testA testB."""
    splits = ("trainA", "trainB", "testA", "testB")
    server.files[HORSE2ZEBRA] = zip_bytes({f"horse2zebra/{split}/{i}.png": png(i)
                                           for split in splits for i in range(2)})


def serve_facades(server: FileServer) -> None:
    """pix2pix's layout: `facades/{train,val,test}/N.jpg`, A|B side by side (here PNG, 16×8)."""
    server.files[FACADES] = tar_gz_bytes({f"facades/{split}/{i}.png": png(i, width=16)
                                          for split in ("train", "val", "test") for i in range(3)})


def leftovers(folder: Path) -> list[str]:
    """Scratch folders, partial downloads and archives in `folder`: none should outlive a call."""
    return sorted(p.name for p in folder.iterdir() if re.search(r"i2i-tmp|\.part$|\.zip$|\.tar\.gz$", p.name))


def test_cyclegan_set_lands_in_the_reference_layout_and_reads(server, tmp_path):
    serve_horse2zebra(server)
    report = download_dataset("horse2zebra", tmp_path / "h2z", progress=False)
    assert report.downloaded and report.folders == {"trainA": 2, "trainB": 2, "testA": 2, "testB": 2}
    assert sorted(p.name for p in (tmp_path / "h2z").iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert leftovers(tmp_path) == []                       # archive deleted, no scratch folder left
    files = find_domain_files(tmp_path / "h2z", ["horse", "zebra"], "train")
    assert [len(f) for f in files.values()] == [2, 2]


def test_paired_set_lands_in_train_val_test_and_reads(server, tmp_path):
    serve_facades(server)
    report = download_dataset("facades", tmp_path / "facades", keep_archive=True, progress=False)
    assert report.folders == {"train": 3, "val": 3, "test": 3}
    layout, pairs = find_pairs(tmp_path / "facades", "train")
    assert layout == "aligned" and len(pairs) == 3
    assert leftovers(tmp_path) == ["facades.tar.gz"]     # --keep-archive
    again = download_dataset("facades", tmp_path / "facades", progress=False)
    assert not again.downloaded and len(server.ranges) == 1  # already there: nothing fetched


def test_force_replaces_only_the_data_set_folders(server, tmp_path):
    serve_horse2zebra(server)
    directory = tmp_path / "h2z"
    (directory / "trainA").mkdir(parents=True)
    (directory / "trainA" / "stale.png").write_bytes(b"old")
    (directory / "notes.txt").write_text("mine")
    assert not download_dataset("horse2zebra", directory, progress=False).downloaded
    download_dataset("horse2zebra", directory, force=True, progress=False)
    assert sorted(p.name for p in (directory / "trainA").iterdir()) == ["0.png", "1.png"]
    assert (directory / "notes.txt").read_text() == "mine" and leftovers(tmp_path) == []


def test_a_partial_download_resumes_with_a_range_request(server, tmp_path):
    content = np.random.default_rng(0).bytes(300_000)
    server.files["/f.bin"] = content
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(content[:120_000])
    assert download(f"{server.url}/f.bin", dest, progress=False) == dest
    assert server.ranges == ["bytes=120000-"]
    assert dest.read_bytes() == content and leftovers(tmp_path) == []


def test_a_server_ignoring_the_range_restarts_the_part(server, tmp_path):
    content = np.random.default_rng(1).bytes(200_000)
    server.files["/f.bin"], server.mode = content, "ignore_range"
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"x" * 50_000)   # not even a prefix of the file
    download(f"{server.url}/f.bin", dest, progress=False)
    assert server.ranges == ["bytes=50000-"] and dest.read_bytes() == content


@pytest.mark.parametrize("part, complete", [(b"", True), (b"surplus", False)])
def test_range_not_satisfiable_completes_a_whole_part_or_restarts_a_bad_one(server, tmp_path, part, complete):
    content = np.random.default_rng(2).bytes(10_000)
    server.files["/f.bin"] = content
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(content + part)
    download(f"{server.url}/f.bin", dest, progress=False)
    assert dest.read_bytes() == content
    assert server.ranges == ([f"bytes={len(content)}-"] if complete else [f"bytes={len(content) + 7}-", None])


@pytest.mark.parametrize("mode, message", [
    ("drop", r"broke off after 200,000 of 400,000 bytes; run again to resume"),
    ("stall", r"broke off after 200,000 bytes \(timed out\); run again to resume"),
])
def test_a_broken_transfer_fails_then_the_next_run_resumes(server, tmp_path, monkeypatch, mode, message):
    monkeypatch.setattr("i2i.hub.download.TIMEOUT_S", 0.2)
    content = np.random.default_rng(3).bytes(400_000)
    server.files["/f.bin"], server.mode = content, mode
    dest = tmp_path / "f.bin"
    with pytest.raises(I2IError, match=message):
        download(f"{server.url}/f.bin", dest, progress=False)
    assert not dest.exists() and dest.with_name("f.bin.part").stat().st_size == 200_000
    server.mode = "normal"
    download(f"{server.url}/f.bin", dest, progress=False)
    assert server.ranges == [None, "bytes=200000-"] and dest.read_bytes() == content


@pytest.mark.parametrize("mode, message", [
    ("normal", r"the server's file has 1,000 bytes, expected 999"),      # known before any byte is written
    ("no_length", r"got 1,000 bytes, expected 999; deleted"),            # found after the transfer
])
def test_a_size_mismatch_fails_and_deletes_the_part(server, tmp_path, mode, message):
    server.files["/f.bin"], server.mode = b"z" * 1000, mode
    dest = tmp_path / "f.bin"
    with pytest.raises(I2IError, match=message):
        download(f"{server.url}/f.bin", dest, expected_size=999, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_errors_name_the_status_and_the_url(server, tmp_path):
    with pytest.raises(I2IError, match=rf"HTTP 404 Not Found for {server.url}/missing.zip"):
        download(f"{server.url}/missing.zip", tmp_path / "m.zip", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server_is_one_line_naming_the_host_and_the_mirrors(monkeypatch, tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("I2I_DOWNLOAD_BASE_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(I2IError) as error:
        download_dataset("horse2zebra", tmp_path / "h2z", progress=False)
    message = str(error.value)
    assert "\n" not in message and message.startswith("cannot reach 127.0.0.1")
    assert f"http://127.0.0.1:{port}/cyclegan/datasets/horse2zebra.zip" in message
    assert "Hugging Face" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path, name, body", [
    (HORSE2ZEBRA, "horse2zebra", b"<html>not a zip</html>"),   # e.g. a proxy's error page
    (FACADES, "facades", tar_gz_bytes({f"facades/train/{i}.png": png(i) for i in range(40)})[:-300]),  # cut
])
def test_a_corrupt_archive_is_named_deleted_and_leaves_nothing(server, tmp_path, path, name, body):
    server.files[path] = body
    with pytest.raises(I2IError, match=rf"{name}\.(zip|tar\.gz) is not a readable \S+ archive .*deleted it"):
        download_dataset(name, tmp_path / "data", progress=False)
    assert list(tmp_path.iterdir()) == []                     # no DIR, no archive, no scratch folder


@pytest.mark.parametrize("path, name, pack, member, content", [
    (HORSE2ZEBRA, "horse2zebra", zip_bytes, "horse2zebra/../../evil.txt", b"gotcha"),
    (FACADES, "facades", tar_gz_bytes, "/tmp/evil.txt", b"gotcha"),
    (FACADES, "facades", tar_gz_bytes, "facades/../../evil.txt", b"gotcha"),
    (FACADES, "facades", tar_gz_bytes, "facades/train/evil.txt", Path("/etc/passwd")),  # a link out
])
def test_members_outside_the_folder_are_refused(server, tmp_path, path, name, pack, member, content):
    server.files[path] = pack({f"{name}/train/0.png": png(0), member: content})
    refused = rf"{name}\.\S+: refusing to extract .*(path traversal|link to an absolute path)"
    with pytest.raises(I2IError, match=refused):
        download_dataset(name, tmp_path / "deep" / "data", progress=False)
    assert not list(tmp_path.rglob("evil.txt")) and list(tmp_path.rglob("*")) == [tmp_path / "deep"]


@pytest.mark.parametrize("command", [["data", "download"], ["weights", "list"], ["weights", "download"]])
def test_new_commands_have_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "I2I_DOWNLOAD_BASE_URL" in result.output


def one_line_error(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_cli_data_download(server, tmp_path):
    listing = runner.invoke(app, ["data", "download", "--list"])
    assert listing.exit_code == 0 and "approx. size" in listing.output
    assert "cyclegan/facades" in listing.output and "summer2winter_yosemite" in listing.output
    for args, message in ((["horses", "d"], "unknown data set 'horses'"),
                          (["cyclegan/cityscapes", "d"], "Cityscapes licence"),
                          ([], "give a data set NAME")):
        assert message in one_line_error(runner.invoke(app, ["data", "download", *args]))
    serve_horse2zebra(server)
    result = runner.invoke(app, ["data", "download", "horse2zebra", str(tmp_path / "h2z")])
    assert result.exit_code == 0, result.output
    assert "trainA 2 files" in result.output and "--domains horse zebra" in result.output
    again = runner.invoke(app, ["data", "download", "horse2zebra", str(tmp_path / "h2z")])
    assert again.exit_code == 0 and "already holds" in again.output


def test_cli_weights_list_and_download_with_import(server, tmp_path):
    listing = runner.invoke(app, ["weights", "list"])
    assert listing.exit_code == 0
    assert f"{server.url}/cyclegan/pretrained_models/horse2zebra.pth" in listing.output
    assert "cyclegan/sat2map" in listing.output and "horse → zebra" in listing.output
    weights = (FIXTURES / "cyclegan_resnet6_ngf8.pth").read_bytes()  # a reference ResNet generator, ngf 8
    server.files["/cyclegan/pretrained_models/horse2zebra.pth"] = weights
    out = tmp_path / "h2z.safetensors"
    result = runner.invoke(app, ["weights", "download", "horse2zebra", "--import-to", str(out)])
    assert result.exit_code == 0, result.output
    header = read_header(out)
    assert header["domains"] == ["horse", "zebra"] and list(header["generators"]) == ["horse->zebra"]
    cached = tmp_path / "cache" / "i2i" / "cyclegan" / "pretrained_models" / "horse2zebra.pth"
    assert cached.read_bytes() == weights
    assert download_pretrained("horse2zebra", progress=False) == cached and len(server.ranges) == 1  # reused
    bad = runner.invoke(app, ["weights", "download", "horse2zebra", "--import-to", str(tmp_path / "x.pth")])
    assert "must name a .safetensors file" in one_line_error(bad)
    assert "unknown pretrained model" in one_line_error(runner.invoke(app, ["weights", "download", "zorse"]))


def test_super_resolution_sets_land_where_srgan_reads_them(server, tmp_path, monkeypatch):
    """DIV2K train + valid into one folder → `i2i train srgan --data DIR` finds both splits; the EDSR
    benchmark tar (plain .tar) → DIR/Set5/HR …. Their own hosts are replaced by the mirror variable."""
    from i2i.data.superres import find_hr_files
    from i2i.hub import catalog

    assert catalog.DATASETS["div2k"].host == "http://data.vision.ee.ethz.ch/cvl"
    monkeypatch.delenv("I2I_DOWNLOAD_BASE_URL")
    assert catalog.DATASETS["div2k"].url == "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip"
    assert catalog.DATASETS["sr_benchmark"].url == "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"
    monkeypatch.setenv("I2I_DOWNLOAD_BASE_URL", server.url)
    server.files["/DIV2K/DIV2K_train_HR.zip"] = zip_bytes({f"DIV2K_train_HR/{i:04d}.png": png(i) for i in (1, 2, 3)})
    server.files["/DIV2K/DIV2K_valid_HR.zip"] = zip_bytes({"DIV2K_valid_HR/0801.png": png(8)})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:  # uncompressed, as the EDSR release
        for name in ("Set5/HR/baby.png", "Set5/LR_bicubic/X4/babyx4.png", "Set14/HR/lenna.png",
                     "B100/HR/3096.png", "Urban100/HR/img_001.png"):
            data = png(len(name))
            info = tarfile.TarInfo(f"benchmark/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    server.files["/research/EDSR/benchmark.tar"] = buffer.getvalue()

    result = runner.invoke(app, ["data", "download", "div2k", str(tmp_path / "div2k")])
    assert result.exit_code == 0 and "i2i train srgan --data" in result.output, result.output
    assert download_dataset("div2k_valid", tmp_path / "div2k", progress=False).folders == {"DIV2K_valid_HR": 1}
    assert [p.name for p in find_hr_files(tmp_path / "div2k", "train")] == ["0001.png", "0002.png", "0003.png"]
    assert [p.name for p in find_hr_files(tmp_path / "div2k", "test")] == ["0801.png"]
    report = download_dataset("sr_benchmark", tmp_path / "bench", progress=False)
    assert report.folders == {"Set5": 2, "Set14": 1, "B100": 1, "Urban100": 1}
    assert [p.name for p in find_hr_files(tmp_path / "bench" / "Set5" / "HR", "test", whole_folder_ok=True)] == [
        "baby.png"]
    assert leftovers(tmp_path) == []
