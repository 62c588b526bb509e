"""xlstm_cpp.Tokenizer: round trips, special tokens, the model's own tokenizer."""
import pytest

import xlstm_cpp
from conftest import EOT

TEXTS = ["In the beginning God created the heaven and the earth.", "", " ", "  two  spaces\tand\ttabs\n\nnewlines",
         "Ünïcödé — “quotes” 日本語のテキスト 🎉👩‍👩‍👧", "numbers 1234567 and punctuation!?;:", "x" * 1000]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(model_dir, text):
    tok = xlstm_cpp.Tokenizer(model_dir + "/tokenizer.json")
    ids = tok.encode(text)
    assert all(isinstance(i, int) for i in ids)
    assert tok.decode(ids) == text


def test_from_dir_and_runner(model_dir, runner):
    a = xlstm_cpp.Tokenizer(model_dir)
    b = runner.tokenizer
    assert a.vocab_size == b.vocab_size == runner.info()["vocab"]
    assert a.encode("the heaven") == b.encode("the heaven")
    assert a.encode(" the")[0] == a.token_to_id("Ġthe")
    assert a.id_to_token(a.token_to_id("Ġthe")) == "Ġthe"
    assert a.token_to_id("no such token") is None


def test_special_tokens(model_dir):
    tok = xlstm_cpp.Tokenizer(model_dir)
    eot = tok.token_to_id(EOT)
    assert tok.is_special(eot)
    assert tok.encode("a" + EOT + "b") == [tok.token_to_id("a"), eot, tok.token_to_id("b")]
    plain = tok.encode("a" + EOT + "b", parse_special=False)
    assert eot not in plain and tok.decode(plain) == "a" + EOT + "b"
    assert tok.decode([tok.token_to_id("a"), eot], skip_special_tokens=True) == "a"


def test_decode_accepts_numpy(model_dir):
    import numpy as np

    tok = xlstm_cpp.Tokenizer(model_dir)
    ids = tok.encode("the earth")
    assert tok.decode(np.array(ids, dtype=np.int64)) == "the earth"


def test_bad_input(model_dir, tmp_path):
    tok = xlstm_cpp.Tokenizer(model_dir)
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([tok.vocab_size])
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok.decode("abc")
    with pytest.raises(FileNotFoundError):
        xlstm_cpp.Tokenizer(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{ not json")
    with pytest.raises(xlstm_cpp.Error):
        xlstm_cpp.Tokenizer(str(tmp_path / "bad.json"))
