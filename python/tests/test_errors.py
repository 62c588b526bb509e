"""Bad arguments raise clear exceptions (ValueError/TypeError/FileNotFoundError; engine errors: xlstm_cpp.Error)."""
import json
import shutil

import numpy as np
import pytest

import xlstm_cpp


def test_error_type():
    assert issubclass(xlstm_cpp.Error, RuntimeError)


def test_bad_generation_arguments(runner):
    V = runner.info()["vocab"]
    with pytest.raises(ValueError, match="max_tokens must be >= 0"):
        runner.generate("hi", max_tokens=-1)
    with pytest.raises(ValueError, match="max_tokens must be >= 0"):
        runner.generate_ids([1], max_tokens=-5)
    with pytest.raises(ValueError, match=f"token id {V} at position 1 is out of range"):
        runner.generate_ids([1, V], max_tokens=3)
    with pytest.raises(ValueError, match="out of range"):
        runner.generate_ids([-1], max_tokens=3)
    with pytest.raises(ValueError, match="out of range"):
        runner.generate_ids([2**40], max_tokens=3)
    with pytest.raises(ValueError, match="out of range"):
        runner.logits(np.array([0, V + 7]))
    with pytest.raises(ValueError, match="out of range"):
        runner.generate_next_token([V])
    with pytest.raises(ValueError, match="empty"):
        runner.logits([])
    with pytest.raises(TypeError):
        runner.logits([1.5, 2.0])
    with pytest.raises(TypeError):
        runner.logits(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"use generate\(\) for text"):
        runner.generate_ids("In the beginning")
    with pytest.raises(ValueError, match="top_p"):
        runner.generate("hi", top_p=0)
    with pytest.raises(ValueError, match="min_p"):
        runner.generate("hi", min_p=2)
    with pytest.raises(ValueError, match="repeat_penalty"):
        runner.generate("hi", repeat_penalty=-1)
    with pytest.raises(ValueError, match="temperature"):
        runner.generate("hi", temperature=float("nan"))
    with pytest.raises(ValueError, match="stop strings"):
        runner.generate("hi", stop=[""])
    with pytest.raises(ValueError, match="last"):
        runner.logits([1, 2], last=3)


def test_empty_prompt(runner):
    runner.reset_state()
    with pytest.raises(xlstm_cpp.Error, match="empty prompt"):
        runner.generate_ids([], max_tokens=3)
    with pytest.raises(xlstm_cpp.Error, match="no ids given"):
        runner.generate_next_token()


def test_bad_runner_arguments(model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        xlstm_cpp.Runner(str(tmp_path / "no_such_model"))
    with pytest.raises(ValueError, match="device must be"):
        xlstm_cpp.Runner(model_dir, device="tpu")
    with pytest.raises(ValueError, match="threads"):
        xlstm_cpp.Runner(model_dir, threads=-2)
    with pytest.raises(ValueError, match="dtype"):
        xlstm_cpp.Runner(model_dir, dtype="int4")
    ok, why = xlstm_cpp.cuda_available()
    if not ok:
        with pytest.raises(xlstm_cpp.Error, match="CUDA"):
            xlstm_cpp.Runner(model_dir, device="cuda")


def test_broken_model_directories(model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    (d / "model.safetensors").unlink()
    with pytest.raises(xlstm_cpp.Error):
        xlstm_cpp.Runner(str(d), device="cpu")
    shutil.copy(model_dir + "/model.safetensors", d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["num_hidden_layers"] = cfg["num_blocks"] = 3
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(xlstm_cpp.Error, match="3"):
        xlstm_cpp.Runner(str(d), device="cpu")


def test_text_needs_a_tokenizer(bare_model_dir):
    r = xlstm_cpp.Runner(bare_model_dir, device="cpu", threads=1)
    assert r.tokenizer is None and r.info()["tokenizer"] is False
    with pytest.raises(xlstm_cpp.Error, match="tokenizer"):
        r.generate("In the beginning")
    assert len(r.generate_ids([1, 2, 3], max_tokens=4, ignore_eos=True)) == 4
