from ganlab import data
from ganlab.__main__ import main


def test_data_list(capsys, tmp_path):
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mnist-5k       ready" in out and "fashion-mnist  missing 4 files" in out


def test_data_import_and_error(capsys, tmp_path, debian_fashion_mnist):
    assert main(["data", "import", "fashion-mnist", str(debian_fashion_mnist), "--root", str(tmp_path)]) == 0
    assert data.missing_files("fashion-mnist", tmp_path) == []
    assert main(["data", "import", "mnist", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
