import json
import os

from regeo.manifest import file_hash, write_manifest


def test_manifest_rehashes_only_what_changed(tmp_path, caplog):
    (tmp_path / "model").mkdir()
    files = {"a.bin": b"a" * 1000, "b.bin": b"b" * 10, "model/w.safetensors": b"w" * 100}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    provenance = {str(tmp_path / "b.bin"): {"rule": "r", "params": {}, "inputs": [str(tmp_path / "a.bin")]},
                  str(tmp_path / "model"): {"rule": "t", "params": {}, "inputs": [str(tmp_path / "a.bin")]}}
    out = tmp_path / "manifest.json"
    caplog.set_level("INFO")
    first = write_manifest(provenance, out, tmp_path)
    assert "3 files hashed, 0 unchanged" in caplog.text  # a.bin, an input twice, is read once
    assert first["outputs"][str(tmp_path / "model")]["sha256"] == file_hash(tmp_path / "model")

    caplog.clear()
    assert write_manifest(provenance, out, tmp_path)["outputs"] == first["outputs"]
    assert "0 files hashed, 3 unchanged" in caplog.text

    # a change of content shows as a new size or modification time: that file alone is read again
    (tmp_path / "model/w.safetensors").write_bytes(b"v" * 100)
    stat = (tmp_path / "a.bin").stat()
    os.utime(tmp_path / "model/w.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    caplog.clear()
    again = write_manifest(provenance, out, tmp_path)["outputs"]
    assert "1 files hashed, 2 unchanged" in caplog.text
    assert again[str(tmp_path / "model")]["sha256"] == file_hash(tmp_path / "model") != \
        first["outputs"][str(tmp_path / "model")]["sha256"]
    assert json.loads((tmp_path / "manifest.hashes.json").read_text()).keys() == {
        str(tmp_path / n) for n in ("a.bin", "b.bin", "model")}
