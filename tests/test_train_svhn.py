"""`kerasvhn train --data`: training on (a tiny synthetic stand-in of) real SVHN,
validation, checkpoints, resume after a kill, mixed precision.

The stand-in is three SVHN format-1 folders written by `synthesize` (train 32,
extra 16, test 16 street scenes); the CLI prepares them on the fly. With 8 images
of each held out, every batch of 16 is full (jax compiles one program per shape).
"""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

from conftest import BACKEND
from kerasvhn.cli import main
from kerasvhn.data.splits import write_split
from kerasvhn.labels import encode_numbers
from kerasvhn.training.rows import RowBatches
from kerasvhn.training.svhn_data import VALIDATION_COUNTS, find_splits, hold_out, parse_counts

TRAIN_ARGS = ["--extra", "--validation", "8,8", "--epochs", "3", "--batch-size", "16", "--seed", "3"]


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """SVHN format-1 folders: train 32, extra 16, test 16 synthetic street scenes."""
    from kerasvhn.data.synth import synthesize

    root = tmp_path_factory.mktemp("svhn")
    for split, count, purpose, seed in (("train", 32, "train", 0), ("extra", 16, "train", 1), ("test", 16, "test", 0)):
        synthesize(root / split, count, seed=seed, workers=1, progress=False, purpose=purpose, lengths="svhn")
    return root


def run_cli(argv):
    """main(argv) with its output captured: (status, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def baseline(standin, tmp_path_factory):
    """An uninterrupted run of 3 epochs: (OUT, its run folder, the output)."""
    out = tmp_path_factory.mktemp("baseline") / "svhn.keras"
    status, text = run_cli(["train", str(out), "--data", str(standin), *TRAIN_ARGS])
    assert status == 0, text
    return out, out.with_name("svhn.run"), text


def weights(path):
    """Every dataset of a Keras weights file: {path in the file: array}."""
    found = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                          else None)
    return found


def assert_same_weights(path, reference, atol=1e-6):
    ours, theirs = weights(path), weights(reference)
    assert sorted(ours) == sorted(theirs)
    worst = max(float(np.max(np.abs(np.asarray(ours[k], np.float64) - np.asarray(theirs[k], np.float64))))
                for k in ours if np.asarray(ours[k]).size)
    assert worst <= atol, f"weights differ by up to {worst}"


def assert_same_models(path, reference, atol=1e-6):
    ours, theirs = (keras.saving.load_model(p, compile=False).get_weights() for p in (path, reference))
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, other, rtol=0, atol=atol)


def test_train_data_trains_validates_checkpoints_and_scores_the_test_split(standin, baseline):
    out, folder, text = baseline
    assert (standin / "prepared" / "train.h5").exists()  # format-1 folders, prepared on the fly
    assert "train 24 (+8 held out for validation), extra 8 (+8 held out for validation)" in text
    for line in ("whole-number accuracy: ", "per-digit accuracy: ", "coverage at 98% accuracy: "):
        assert line in text
    for name in ("run.json", "log.csv", "training_curves.png", "best.weights.h5", "backup/latest.weights.h5"):
        assert (folder / name).exists(), name
    log = (folder / "log.csv").read_text().splitlines()
    assert len(log) == 4 and "val_sequence_accuracy" in log[0]
    record = json.loads((folder / "run.json").read_text())
    assert record["finished"]["epochs"] == 3 and record["settings"]["validation"] == {"train": 8, "extra": 8}
    assert set(record["test"]) >= {"whole_number_accuracy", "per_digit_accuracy", "coverage_at_98"}
    model = keras.saving.load_model(out, compile=False)
    assert model.training_streams == [{"purpose": "svhn", "split": "train", "count": 24, "held_out": 8},
                                      {"purpose": "svhn", "split": "extra", "count": 8, "held_out": 8}]
    # OUT holds the weights of the best epoch by validation whole-number accuracy.
    best = keras.saving.load_model(out, compile=False)
    best.load_weights(folder / "best.weights.h5")
    for mine, theirs in zip(model.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def _kill_after_first_epoch(out, standin):
    """Runs the CLI in a subprocess and kills it (SIGKILL) once epoch 1's backup is
    written; returns the number of epochs the backup then holds."""
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "kerasvhn.cli", "train", str(out), "--data", str(standin), *TRAIN_ARGS]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metadata = out.with_name("svhn.run") / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(metadata.read_text())["epoch"] >= 1:
                break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    _, error = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, error.decode()[-2000:]
    return json.loads(metadata.read_text())["epoch"]


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the kill test runs on tensorflow (a subprocess: a minute on "
                    "these loaded cores); every backend resumes in the test below")
def test_a_run_killed_after_epoch_1_of_3_resumes_to_the_weights_of_an_uninterrupted_one(standin, baseline,
                                                                                           tmp_path):
    reference, reference_folder, _ = baseline
    out = tmp_path / "svhn.keras"
    done = _kill_after_first_epoch(out, standin)
    assert done in (1, 2)  # killed after epoch 1's backup, before the run's end: the epoch in progress is lost
    status, text = run_cli(["train", str(out), "--data", str(standin), "--resume"])
    assert status == 0 and f"resuming after epoch {done}" in text, text
    folder = out.with_name("svhn.run")
    assert_same_weights(folder / "backup" / "latest.weights.h5", reference_folder / "backup" / "latest.weights.h5")
    assert_same_models(out, reference)
    assert (folder / "log.csv").read_text() == (reference_folder / "log.csv").read_text()


def test_a_run_killed_while_writing_its_last_backup_resumes_from_the_epoch_before(standin, baseline, tmp_path):
    """What a kill in the middle of epoch 3's backup leaves: a half-written
    latest.weights.h5 and the metadata of epoch 2. The backup falls back to its copy
    of epoch 2, and epoch 3 is done again, to the uninterrupted run's weights."""
    reference, reference_folder, _ = baseline
    folder = tmp_path / "svhn.run"
    shutil.copytree(reference_folder, folder)
    backup = folder / "backup"
    latest = backup / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:4096])
    shutil.copy(backup / "training_metadata.json.bkp", backup / "training_metadata.json")
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    out = tmp_path / "svhn.keras"
    status, text = run_cli(["train", str(out), "--data", str(standin), "--run-dir", str(folder), "--resume"])
    assert status == 0 and "resuming after epoch 2" in text, text
    assert_same_weights(latest, reference_folder / "backup" / "latest.weights.h5")
    assert_same_models(out, reference)
    assert (folder / "log.csv").read_text() == (reference_folder / "log.csv").read_text()


class _CtrlC(keras.callbacks.Callback):
    """Raises KeyboardInterrupt (what Ctrl-C raises) after the first batch of epoch 2."""

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1:
            raise KeyboardInterrupt

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


def test_ctrl_c_loses_the_epoch_in_progress_and_the_run_resumes_to_an_uninterrupted_ones_weights(
        standin, baseline, tmp_path):
    """On every backend, in this process: interrupted in epoch 2, the run keeps epoch
    1's backup; resumed, it ends where the uninterrupted run ended."""
    from kerasvhn.training.long_run import RunFolder
    from kerasvhn.training.svhn import train_on_svhn

    reference, reference_folder, _ = baseline
    folder = tmp_path / "svhn.run"
    with pytest.raises(KeyboardInterrupt):
        train_on_svhn(standin, folder, extra=True, validation=parse_counts("8,8"), epochs=3, batch_size=16,
                      seed=3, verbose=0, callbacks=[_CtrlC()], log=lambda *a: None)
    assert RunFolder(folder).epochs_done() == 1
    assert keras.config.dtype_policy().name == "float32"
    out = tmp_path / "svhn.keras"
    status, text = run_cli(["train", str(out), "--data", str(standin), "--run-dir", str(folder), "--resume"])
    assert status == 0 and "resuming after epoch 1" in text, text
    assert_same_weights(folder / "backup" / "latest.weights.h5", reference_folder / "backup" / "latest.weights.h5")
    assert_same_models(out, reference)


def test_early_stopping_ends_the_run_and_a_resumed_stopped_run_trains_no_more(standin, tmp_path):
    """A learning rate of almost 0: validation accuracy cannot improve after epoch 1,
    so patience 1 stops the run after epoch 2 of 5."""
    from kerasvhn.training.svhn import train_on_svhn

    folder = tmp_path / "flat.run"
    settings = {"validation": {"train": 8}, "epochs": 5, "batch_size": 16, "learning_rate": 1e-12, "patience": 1,
                "verbose": 0, "log": lambda *a: None}
    _, history, _ = train_on_svhn(standin, folder, **settings)
    accuracy = history["val_sequence_accuracy"]
    assert len(accuracy) == 2 and accuracy[1] <= accuracy[0], accuracy
    record = json.loads((folder / "run.json").read_text())
    assert record["finished"]["stopped_early"] and record["finished"]["epochs"] == 2
    lines = []
    train_on_svhn(standin, folder, resume=True, verbose=0, log=lines.append)
    assert any("nothing left to train" in line for line in lines), lines


def test_a_backup_killed_between_its_two_files_is_refused(standin, baseline, tmp_path):
    """Epoch 3's weights written, the epoch not yet recorded (2): resuming would train
    epoch 3 again on top of itself, so the run refuses and says what to do."""
    from kerasvhn.training.svhn import train_on_svhn

    folder = tmp_path / "svhn.run"
    shutil.copytree(baseline[1], folder)
    shutil.copy(folder / "backup" / "training_metadata.json.bkp", folder / "backup" / "training_metadata.json")
    with pytest.raises(RuntimeError, match=r"killed while writing its backup. Copy .*latest.weights.h5.bkp"):
        train_on_svhn(standin, folder, resume=True, verbose=0, log=lambda *a: None)


def test_resume_refuses_other_settings_and_a_new_run_refuses_a_used_folder(standin, baseline, capsys):
    out, _, _ = baseline
    assert main(["train", str(out), "--data", str(standin), "--resume", "--epochs", "4"]) == 1
    assert "these differ: epochs: the run's 3, asked 4" in capsys.readouterr().err
    assert main(["train", str(out), "--data", str(standin), *TRAIN_ARGS]) == 1
    assert "holds a run already: resume it (--resume)" in capsys.readouterr().err


def test_resuming_a_finished_run_trains_no_more(standin, baseline, tmp_path):
    out, folder, _ = baseline
    again = tmp_path / "again.keras"
    status, text = run_cli(["train", str(again), "--data", str(standin), "--run-dir", str(folder), "--resume"])
    assert status == 0 and "nothing left to train" in text and "Epoch" not in text
    assert_same_models(again, out, atol=0)


@pytest.mark.parametrize("argv, message", [
    (["--extra"], "--extra applies to --data only"),
    (["--resume"], "--resume applies to --data only"),
    (["--data", "DATA", "--count", "10"], "--count applies to training without --data only"),
    (["--data", "missing-folder"], "missing-folder: no such folder"),
])
def test_misused_arguments_are_one_line_errors(argv, message, standin, tmp_path, capsys):
    argv = [str(standin) if arg == "DATA" else arg for arg in argv]
    assert main(["train", str(tmp_path / "m.keras"), *argv]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.skipif(BACKEND != "torch", reason="the torch backend's answer to --distribute")
def test_distribute_on_torch_names_torchrun(standin, tmp_path, capsys):
    assert main(["train", str(tmp_path / "m.keras"), "--data", str(standin), "--distribute"]) == 1
    assert "torchrun" in capsys.readouterr().err


class _Precision(keras.callbacks.Callback):
    """Records how the model trains: (compute dtype, weights dtype, optimizer)."""

    def on_train_begin(self, logs=None):
        conv = self.model.get_layer("conv2")
        self.found = (conv.compute_dtype, conv.kernel.dtype, type(self.model.optimizer).__name__)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="float16 convolutions are slow on CPU with torch (about 7 s a "
                    "step here) and jax (30 s to compile): checked on tensorflow")
def test_mixed_precision_trains_correctly(standin, tmp_path):
    """Float16 compute with float32 weights and a loss-scaling optimizer: the loss
    stays finite and falls, the logits are float32 and read like the float32 model's;
    `--mixed-precision` trains through the whole --data path."""
    from kerasvhn.model import MultiDigitNet
    from kerasvhn.training.svhn import train_on_svhn

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 54, 54, 3)).astype("float32")
    y = encode_numbers([str(n) for n in rng.integers(0, 1000, 16)])
    keras.config.set_dtype_policy("mixed_float16")
    model = MultiDigitNet("small", conv_dropout=0.0, dense_dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    losses = [float(model.train_on_batch(x, y, return_dict=True)["loss"]) for _ in range(6)]
    keras.config.set_dtype_policy("float32")
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert model.get_layer("conv2").compute_dtype == "float16" and model.get_layer("conv2").kernel.dtype == "float32"
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    full = MultiDigitNet("small", conv_dropout=0.0, dense_dropout=0.0)
    full.set_weights(model.get_weights())
    mixed, exact = model.predict(x, verbose=0), full.predict(x, verbose=0)
    assert keras.backend.standardize_dtype(mixed["digits"].dtype) == "float32"
    probabilities = [keras.ops.convert_to_numpy(keras.ops.softmax(out["digits"])) for out in (mixed, exact)]
    assert np.abs(probabilities[0] - probabilities[1]).max() < 0.05
    probe = _Precision()
    trained, history, scores = train_on_svhn(standin, tmp_path / "mixed.run", validation={"train": 8}, epochs=1,
                                             batch_size=16, mixed_precision="mixed_float16", verbose=0,
                                             callbacks=[probe], log=lambda *a: None)
    assert probe.found == ("float16", "float32", "LossScaleOptimizer")  # trained in float16
    assert np.isfinite(history["loss"]).all() and 0 <= scores["whole_number_accuracy"] <= 1
    assert trained.get_layer("conv1").compute_dtype == "float32"  # returned as a float32 model


def test_hold_out_is_the_papers_protocol_and_the_same_for_every_run(tmp_path):
    files = {}
    for split, count in (("train", 50), ("extra", 30)):
        files[split] = write_split(tmp_path / f"{split}.h5", np.zeros((count, 64, 64, 3), np.uint8),
                                   encode_numbers(["1"] * count), [f"{i}.png" for i in range(count)])
    assert VALIDATION_COUNTS == {"train": 4000, "extra": 2000}  # 400 + 200 per class in Sermanet et al. 2012
    data = hold_out(files, {"train": 10, "extra": 5})
    again = hold_out(files, {"train": 10, "extra": 5})
    for split, held in (("train", 10), ("extra", 5)):
        assert data.validation[split].size == held
        assert np.array_equal(data.validation[split], again.validation[split])
        everything = np.concatenate([data.training[split], data.validation[split]])
        assert np.array_equal(np.sort(everything), np.arange(50 if split == "train" else 30))
    with pytest.raises(ValueError, match="keep some to train on"):
        hold_out(files, {"train": 50})
    with pytest.raises(ValueError, match="expected TRAIN or TRAIN,EXTRA"):
        parse_counts("a lot")
    with pytest.raises(FileNotFoundError, match="no prepared extra split"):
        find_splits(_only_train(tmp_path, files), extra=True)


def _only_train(tmp_path, files):
    folder = tmp_path / "only-train"
    folder.mkdir()
    os.link(files["train"], folder / "train.h5")
    return folder


def test_row_batches_draw_each_epoch_from_seed_and_epoch(tmp_path):
    images = np.arange(12, dtype=np.uint8)[:, None, None, None] * np.ones((12, 64, 64, 3), np.uint8)
    path = write_split(tmp_path / "s.h5", images, encode_numbers([str(i) for i in range(12)]),
                       [f"{i}.png" for i in range(12)])
    rows = [1, 3, 5, 7, 9, 11]
    batches = RowBatches([(path, rows), (path, [0, 2])], batch_size=3, seed=4)
    seen = np.concatenate([batches[i][0][:, 0, 0, 0] * 255 for i in range(len(batches))]).round().astype(int)
    assert sorted(seen.tolist()) == [0, 1, 2, 3, 5, 7, 9, 11]  # every chosen row once an epoch
    first = [batches[i][0] for i in range(len(batches))]
    batches.set_epoch(5)
    fifth = [batches[i][0] for i in range(len(batches))]
    batches.set_epoch(0)
    assert all(np.array_equal(a, batches[i][0]) for i, a in enumerate(first))
    assert not all(np.array_equal(a, b) for a, b in zip(first, fifth))
    padded = RowBatches([(path, rows)], batch_size=4, training=False, pad_to=4)
    x, y, weight = padded[1]
    assert x.shape[0] == 4 and weight.tolist() == [1, 1, 0, 0]
    assert len(RowBatches([(path, rows)], batch_size=4, drop_remainder=True)) == 1
    assert len(RowBatches([(path, rows)], batch_size=1, max_batches=2)) == 2
