"""The record of a check in the kernel, and its replay by the judge (ganlab.grading.evidence).

The kernel's side and the judge's side run here in one process, one after the other:
the property under test is that a replayed check decides exactly as the check did on
the real function, that it decides on the judge's own references whatever the record
claims, and that a record cannot carry code.
"""

from __future__ import annotations

import math
import os
import pickle

import pytest
import torch
import torch.nn.functional as F

from ganlab import checks
from ganlab.grading import evidence


def correct_dloss(real, fake):
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def summed_dloss(real, fake):
    return F.softplus(-real).sum() + F.softplus(fake).sum()


def dstep(G, D, optimizer, x_real, z):
    loss = correct_dloss(D(x_real), D(G(z).detach()))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def record(tmp_path, monkeypatch, check, fn, seed=0, grading_seed="11"):
    """Run ``check(fn)`` as a grading kernel does; the records it wrote, and its error."""
    folder = tmp_path / f"records-{check.__name__}-{seed}"
    folder.mkdir()
    monkeypatch.setenv(evidence.RECORDS_ENV, str(folder))
    monkeypatch.setenv(evidence.SEED_ENV, grading_seed)
    evidence.begin_cell("cell")
    error = None
    try:
        check(fn, seed=seed)
    except AssertionError as e:
        error = str(e).splitlines()[0]
    monkeypatch.delenv(evidence.RECORDS_ENV)
    return evidence.load_records(folder), error


def replay(records, check, name, seed=0):
    """The judge's verdict on ``records``: None when it passes, else its message."""
    with evidence.replaying(evidence.Replayer(records)):
        try:
            check(evidence.Student(name), seed=seed)
        except AssertionError as error:
            return str(error).splitlines()[0]
    return None


@pytest.mark.parametrize("check, fn, name", [
    (checks.check_discriminator_loss, correct_dloss, "discriminator_loss"),
    (checks.check_discriminator_step, dstep, "discriminator_step"),
])
def test_replay_passes_what_passed(tmp_path, monkeypatch, check, fn, name):
    records, error = record(tmp_path, monkeypatch, check, fn)
    assert error is None and len(records) == 1
    assert records[0]["claim"] == {"passed": True, "message": None}
    monkeypatch.setenv(evidence.SEED_ENV, "11")
    assert replay(records, check, name) is None


def test_replay_fails_with_the_same_hint_as_the_kernel(tmp_path, monkeypatch):
    records, error = record(tmp_path, monkeypatch, checks.check_discriminator_loss, summed_dloss)
    assert error == "use means over the minibatch, not sums"
    monkeypatch.setenv(evidence.SEED_ENV, "11")
    assert replay(records, checks.check_discriminator_loss, "discriminator_loss") == \
        error.replace("skewed", "discriminator_loss")


def test_a_claim_of_success_does_not_make_a_wrong_result_pass(tmp_path, monkeypatch):
    records, _ = record(tmp_path, monkeypatch, checks.check_discriminator_loss, summed_dloss)
    records[0]["claim"] = {"passed": True, "message": None}  # what a patched kernel says
    monkeypatch.setenv(evidence.SEED_ENV, "11")
    assert replay(records, checks.check_discriminator_loss, "discriminator_loss") == \
        "use means over the minibatch, not sums"


def test_results_for_other_inputs_are_refused(tmp_path, monkeypatch):
    """Results recorded under another seed (prepared in advance) do not answer this run."""
    records, error = record(tmp_path, monkeypatch, checks.check_discriminator_loss, correct_dloss,
                            grading_seed="999")
    assert error is None
    monkeypatch.setenv(evidence.SEED_ENV, "11")
    message = replay(records, checks.check_discriminator_loss, "discriminator_loss")
    assert message and "inputs your kernel used differ from the grader's" in message


def test_grading_seed_mixes_the_secret_into_each_check_seed(monkeypatch):
    monkeypatch.delenv(evidence.SEED_ENV, raising=False)
    assert evidence.grading_seed("check_x", 1) == 1  # outside grading: the notebook's seed
    monkeypatch.setenv(evidence.SEED_ENV, "123")
    seeds = {evidence.grading_seed(c, s) for c in ("check_x", "check_y") for s in (0, 1)}
    assert len(seeds) == 4 and all(0 <= s < 2**31 for s in seeds)
    assert evidence.grading_seed("check_x", 0) == evidence.grading_seed("check_x", 0)
    monkeypatch.setenv(evidence.SEED_ENV, "124")
    assert evidence.grading_seed("check_x", 0) not in seeds


def test_missing_records_fail_the_check():
    message = replay([], checks.check_discriminator_loss, "discriminator_loss")
    assert message.startswith("this check did not run in your notebook's kernel")


def test_a_truncated_record_fails_where_it_stops(tmp_path, monkeypatch):
    records, _ = record(tmp_path, monkeypatch, checks.check_discriminator_loss, correct_dloss)
    records[0]["entries"] = records[0]["entries"][:1]
    monkeypatch.setenv(evidence.SEED_ENV, "11")
    message = replay(records, checks.check_discriminator_loss, "discriminator_loss")
    assert "has no result of" in message


def test_replayed_gradients_are_the_kernels(tmp_path, monkeypatch):
    """The judge's backward pass through a recorded result gives the kernel's gradients."""
    def skewed(real, fake):  # right value, gradient scaled by 2 on the real logits
        return correct_dloss(real, fake) + (F.softplus(-real).mean()
                                            - F.softplus(-real).mean().detach())
    records, error = record(tmp_path, monkeypatch, checks.check_discriminator_loss, skewed)
    assert error and error.startswith("the gradient of")
    monkeypatch.setenv(evidence.SEED_ENV, "11")
    assert replay(records, checks.check_discriminator_loss, "discriminator_loss") == \
        error.replace("skewed", "discriminator_loss")


def test_encode_decode_round_trip():
    value = {"a": (1, 2.5, "x", None), "t": torch.arange(3.0), "n": [math.pi]}
    back = evidence.decode(evidence.encode(value))
    assert back["a"] == (1, 2.5, "x", None) and back["n"] == [math.pi]
    assert torch.equal(back["t"], torch.arange(3.0))


def test_a_record_holding_code_is_never_run(tmp_path):
    """``load_records`` reads tensors and containers only: a pickle with a payload is skipped."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with open(tmp_path / "0-00001.pt", "wb") as f:
        pickle.dump({"entries": [Payload()]}, f)
    torch.save({"entries": [], "check": "check_x", "seed": 0, "cell": "c"}, tmp_path / "0-00002.pt")
    (tmp_path / "0-00003.pt").write_bytes(b"not a record")
    records = evidence.load_records(tmp_path)
    assert [r["check"] for r in records] == ["check_x"]
    assert not marker.exists()


def test_sketch_tolerates_rounding_but_not_other_inputs():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert evidence._same_sketch(evidence.sketch(x), evidence.sketch(x + 1e-9))
    assert not evidence._same_sketch(evidence.sketch(x), evidence.sketch(x + 0.01))
    assert not evidence._same_sketch(evidence.sketch(x), evidence.sketch(x[:999]))
