"""ganlab.checkpoint: files are written atomically (all of the new file or the old one, never
half of either, and no temporary file left behind), and checkpoints load back as saved."""

import os
import pickle
import re
import stat

import pytest
import torch

from ganlab import checkpoint


def names(folder):
    """Every entry of ``folder``, hidden ones (the temporary files) included."""
    return sorted(p.name for p in folder.iterdir())


# --- atomic writes --------------------------------------------------------------------------


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    """Files written atomically (checkpoints, grade reports) are readable like any other file."""
    mask = os.umask(0o022)  # a process-wide setting read by a system call: no attribute to patch
    try:
        checkpoint.atomic_write_text(tmp_path / "report.json", "{}")
        checkpoint.save({"w": torch.zeros(1)}, tmp_path / "model.pt")
    finally:
        os.umask(mask)
    for name in ("report.json", "model.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "report.json"]


def test_atomic_path_writes_next_to_the_destination_and_moves_it_there(tmp_path):
    target = tmp_path / "new" / "folder" / "out.txt"  # missing folders are made
    with checkpoint.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.txt.")  # same filesystem
        tmp.write_text("done")
        assert not target.exists()                    # nothing at the destination until the end
    assert target.read_text() == "done"
    assert names(target.parent) == ["out.txt"]


@pytest.mark.parametrize("interruption", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, interruption):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(type(interruption)):
        with checkpoint.atomic_path(target) as tmp:
            tmp.write_text("half of the n")
            raise interruption
    assert target.read_text() == "old"
    assert names(tmp_path) == ["report.json"]
    with pytest.raises(KeyboardInterrupt):           # a first write that fails leaves nothing
        with checkpoint.atomic_path(tmp_path / "first.json") as tmp:
            tmp.write_text("{")
            raise KeyboardInterrupt
    assert names(tmp_path) == ["report.json"]


def test_atomic_write_text_is_utf8_and_replaces_the_old_text(tmp_path):
    target = tmp_path / "feedback.md"
    checkpoint.atomic_write_text(target, "first")
    checkpoint.atomic_write_text(target, "Kullback–Leibler: ∫ p log(p / q) ≥ 0\n")
    assert target.read_bytes() == "Kullback–Leibler: ∫ p log(p / q) ≥ 0\n".encode()
    assert names(tmp_path) == ["feedback.md"]


# --- training checkpoints -------------------------------------------------------------------


def test_a_checkpoint_loads_back_what_was_saved(tmp_path):
    """Weights next to what a resumed run needs: RNG states, counters, plain containers."""
    model = torch.nn.Linear(3, 2)
    state = {"model": model.state_dict(), "rng": torch.random.get_rng_state(),
             "epochs_done": 2, "history": [{"epoch": 0, "loss": 0.5}], "name": "run"}
    checkpoint.save(state, tmp_path / "run.pt")
    loaded = checkpoint.load(tmp_path / "run.pt")
    assert loaded.keys() == state.keys()
    for key, value in state["model"].items():
        assert torch.equal(loaded["model"][key], value) and loaded["model"][key].device.type == "cpu"
    assert torch.equal(loaded["rng"], state["rng"])
    assert (loaded["epochs_done"], loaded["history"], loaded["name"]) == (2, [{"epoch": 0, "loss": 0.5}], "run")
    assert names(tmp_path) == ["run.pt"]


def test_a_save_interrupted_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    checkpoint.save({"epochs_done": 1}, path)
    real_save = torch.save

    def dies_halfway(obj, f, *args, **kwargs):  # writes half a checkpoint, then Ctrl-C
        real_save(obj, f, *args, **kwargs)
        with open(f, "r+b") as out:
            out.truncate(os.path.getsize(f) // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save({"epochs_done": 2}, path)
    monkeypatch.undo()
    assert checkpoint.load(path) == {"epochs_done": 1}
    assert names(tmp_path) == ["run.pt"]


def test_an_object_that_cannot_be_saved_leaves_nothing_behind(tmp_path):
    path = tmp_path / "run.pt"
    checkpoint.save({"epochs_done": 1}, path)
    with pytest.raises((pickle.PicklingError, AttributeError), match="pickle"):  # a local function
        checkpoint.save({"step": lambda batch: batch}, path)
    assert checkpoint.load(path) == {"epochs_done": 1}
    assert names(tmp_path) == ["run.pt"]


@pytest.mark.parametrize("where", ["missing.pt", "a-folder"])
def test_loading_no_checkpoint_names_the_path(tmp_path, where):
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(f"no checkpoint at {tmp_path / where}")):
        checkpoint.load(tmp_path / where)
