// Why: the xlstm_cpp Python module. A Runner owns one backend + model + tokenizer and one recurrent state
// (the "session"); it generates text or ids, streams text pieces, computes logits, and exposes the state as
// an object that can be copied, saved and loaded. Every compute call releases the GIL and takes the
// Runner's lock, so Runners work from several Python threads at once; engine errors (xlstm::Error) become
// xlstm_cpp.Error (a RuntimeError) and bad arguments ValueError/TypeError, with the engine's message.
//
// Pending token (as Generation::pending in runtime/generate.h): the last sampled token is not fed into the
// state when it is returned. The state object records it (State.pending); the next call that continues
// the state (generate_next_token, or generate/stream/generate_ids with reset=False) feeds it first, and
// State.save feeds it before writing. "state + pending" is always the whole sequence so far.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "common/check.h"
#include "common/dtype.h"
#include "io/mapped_file.h"
#include "model/model.h"
#include "model/state.h"
#include "runtime/decoder.h"
#include "runtime/generate.h"
#include "runtime/perplexity.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"

namespace py = pybind11;
using namespace xlstm;

namespace {

constexpr const char* kBundled = "models/xlstm-kjv-tiny";

[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] void not_found(const std::string& msg) {
  PyErr_SetString(PyExc_FileNotFoundError, msg.c_str());
  throw py::error_already_set();
}

// Python str from UTF-8 bytes; invalid sequences (never expected) become U+FFFD instead of raising.
py::str to_str(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// ---- model, tokenizer and state ----------------------------------------------------------------------------

// What a Runner and the State objects it hands out share. The model is not reentrant: every use of the
// backend (forward, state copies, save/load) holds `mu`, taken after the GIL is released.
struct Core {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;  // null when the model directory has no tokenizer.json
  std::string dir;
  std::mutex mu;
  uint64_t epoch = 0;  // bumped by every call that changes the runner's state (invalidates older streams)

  int64_t vocab() const { return model->info().vocab_size; }
  const Tokenizer& tok() const {
    XLSTM_CHECK(tokenizer, "model directory '{}' has no tokenizer.json: text needs a tokenizer (use the *_ids / "
                "ids-based calls, or xlstm_cpp.Tokenizer for a tokenizer of your own)", dir);
    return *tokenizer;
  }
};

// One sequence: the recurrent state, the sampled token not yet fed into it, and the tokens it has seen since
// the last reset (for the repetition penalty; empty after a load).
struct Slot {
  explicit Slot(Model& m) : st(m) {}
  State st;
  int32_t pending = -1;
  std::vector<int32_t> history;

  void reset() {
    st.reset();
    pending = -1;
    history.clear();
  }
  // Feeds `ids` (pending first) and returns the logits after the last of them; n_out = 0 skips the head.
  // Call with the core's lock held. Empty input: no forward, empty result.
  std::vector<float> feed(Model& model, std::vector<int32_t> ids, bool want_logits) {
    if (pending >= 0) ids.insert(ids.begin(), pending);
    if (ids.empty()) return {};
    std::vector<float> logits;
    float* sp = st.data();
    if (want_logits) {
      logits.resize(size_t(model.info().vocab_size));
      model.forward(ids.data(), 1, int(ids.size()), &sp, 1, logits.data());
    } else {
      model.forward(ids.data(), 1, int(ids.size()), &sp, 0, nullptr);
    }
    st.n_tokens += int64_t(ids.size());
    // history already holds a pending token (it was appended when sampled)
    history.insert(history.end(), ids.begin() + (pending >= 0 ? 1 : 0), ids.end());
    pending = -1;
    return logits;
  }
  void flush(Model& model) {
    if (pending >= 0) feed(model, {}, false);
  }
};

// ---- argument checks -------------------------------------------------------------------------------------

std::vector<int32_t> ids_from_py(const py::handle& obj, int64_t vocab, const char* what) {
  if (py::isinstance<py::str>(obj) || py::isinstance<py::bytes>(obj))
    throw py::type_error(std::string(what) + " must be a sequence of token ids (ints), not a string");
  std::vector<int64_t> v;
  if (py::isinstance<py::array>(obj)) {
    py::array a = py::reinterpret_borrow<py::array>(obj);
    const char kind = a.dtype().kind();
    if (kind != 'i' && kind != 'u')
      throw py::type_error(std::string(what) + " must hold integers, got a numpy array of dtype " +
                           std::string(py::str(a.dtype())));
    if (a.ndim() != 1) value_error(std::string(what) + " must be 1-D, got " + std::to_string(a.ndim()) + " dimensions");
    auto b = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    v.assign(b.data(), b.data() + b.size());
  } else if (py::isinstance<py::sequence>(obj)) {
    size_t i = 0;
    for (auto item : py::reinterpret_borrow<py::sequence>(obj)) {
      PyObject* idx = PyNumber_Index(item.ptr());  // ints and numpy integers; not floats or strings
      if (!idx) {
        PyErr_Clear();
        throw py::type_error(std::string(what) + " must hold ints, got " +
                             std::string(py::str(item.get_type().attr("__name__"))) + " at position " + std::to_string(i));
      }
      int overflow = 0;
      long long x = PyLong_AsLongLongAndOverflow(idx, &overflow);
      Py_DECREF(idx);
      v.push_back(overflow ? (overflow > 0 ? INT64_MAX : INT64_MIN) : int64_t(x));
      ++i;
    }
  } else {
    throw py::type_error(std::string(what) + " must be a list or 1-D numpy array of token ids");
  }
  std::vector<int32_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0 || v[i] >= vocab)
      value_error(std::string(what) + ": token id " + std::to_string(v[i]) + " at position " + std::to_string(i) +
                  " is out of range [0, " + std::to_string(vocab) + ")");
    out[i] = int32_t(v[i]);
  }
  return out;
}

// stop=: None, one string, or a sequence of strings.
std::optional<std::vector<std::string>> stop_list(const py::object& o) {
  if (o.is_none()) return std::nullopt;
  if (py::isinstance<py::str>(o)) return std::vector<std::string>{o.cast<std::string>()};
  try {
    return o.cast<std::vector<std::string>>();
  } catch (const py::cast_error&) {
    throw py::type_error("stop must be a string or a list of strings");
  }
}

struct SampleArgs {
  float temperature, top_p, min_p, repeat_penalty;
  int top_k, repeat_last_n;
  std::optional<uint64_t> seed;
};

SamplingParams sampling_from(const SampleArgs& a) {
  if (!std::isfinite(a.temperature)) value_error("temperature must be finite");
  if (!(a.top_p > 0.f && a.top_p <= 1.f)) value_error("top_p must be in (0, 1], got " + std::to_string(a.top_p));
  if (!(a.min_p >= 0.f && a.min_p <= 1.f)) value_error("min_p must be in [0, 1], got " + std::to_string(a.min_p));
  if (!(a.repeat_penalty > 0.f && std::isfinite(a.repeat_penalty)))
    value_error("repeat_penalty must be > 0, got " + std::to_string(a.repeat_penalty));
  if (a.repeat_last_n < -1) value_error("repeat_last_n must be >= -1, got " + std::to_string(a.repeat_last_n));
  SamplingParams p;
  p.temperature = a.temperature;
  p.top_k = a.top_k;
  p.top_p = a.top_p;
  p.min_p = a.min_p;
  p.repeat_penalty = a.repeat_penalty;
  p.repeat_last_n = a.repeat_last_n;
  p.seed = a.seed ? *a.seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  return p;
}

std::string dtype_lower(DType t) {
  std::string s = dtype_name(t);
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- generation --------------------------------------------------------------------------------------------

struct GenArgs {
  int max_tokens = 50;
  SampleArgs sample;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_ids;
  bool stop_at_eos = true;
  bool reset = true;
};

struct Stats {
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  std::string finish_reason;  // "stop" (eos, stop id or stop string), "length" (max_tokens)
};

// One generation on a slot: prefill, then one token per step; in text mode the tokens are decoded into
// pieces that never end in a partial UTF-8 sequence or in a possible start of a stop string. Every method
// runs with the GIL released and the core's lock held.
class Session {
 public:
  Session(std::shared_ptr<Core> core, std::shared_ptr<Slot> slot, const GenArgs& a, bool text)
      : core_(std::move(core)), slot_(std::move(slot)), a_(a), sampler_(sampling_from(a.sample)) {
    if (text) dec_ = std::make_unique<StreamDecoder>(core_->tokenizer);
  }

  void start(const std::vector<int32_t>& prompt) {
    double t0 = now();
    Model& m = *core_->model;
    if (!sampler_.needs_history() && a_.max_tokens > 1) dev_ = std::make_unique<Decoder>(m, 1);
    const bool had_pending = slot_->pending >= 0;
    stats_.prompt_tokens = int64_t(prompt.size()) + (had_pending ? 1 : 0);
    logits_ = slot_->feed(m, prompt, true);
    stats_.prefill_seconds = now() - t0;
  }

  // Next token, or false when the generation is over; *is_stop: eos or a stop id (ends generation).
  bool next_token(int32_t* tok, bool* is_stop) {
    if (done_) return false;
    if (produced_ >= a_.max_tokens) return finish("length");
    double t0 = now();
    Model& m = *core_->model;
    int32_t t;
    if (produced_ == 0) {
      t = sampler_.sample(logits_.data(), m.info().vocab_size, slot_->history);  // from the prefill's logits
    } else if (dev_) {
      // Device path (as continue_generation): feed the previous token and draw on the device, the same
      // draw as the host path's; graph-captured where the backend can.
      if (produced_ == 1) dev_->set_sequence(0, slot_->st.data(), sampler_.params(), sampler_.step());
      t = (produced_ == 1 ? dev_->step(&slot_->pending) : dev_->step_chained())[0];
      slot_->st.n_tokens += 1;
    } else {  // host path: feed the previous token, sample with the history (repetition penalty)
      logits_ = slot_->feed(m, {}, true);
      t = sampler_.sample(logits_.data(), m.info().vocab_size, slot_->history);
    }
    slot_->pending = t;
    slot_->history.push_back(t);
    ++produced_;
    stats_.generated_tokens = produced_;
    stats_.decode_seconds += now() - t0;
    const auto& eos = m.info().eos_ids;
    *is_stop = (a_.stop_at_eos && std::find(eos.begin(), eos.end(), t) != eos.end()) ||
               std::find(a_.stop_ids.begin(), a_.stop_ids.end(), t) != a_.stop_ids.end();
    if (*is_stop) finish("stop");
    *tok = t;
    return true;
  }

  // Text mode: the next non-empty piece, or false when there is no more text.
  bool next_piece(std::string* out) {
    while (!text_done_) {
      int32_t t;
      bool is_stop = false;
      const bool got = next_token(&t, &is_stop);
      if (got && !is_stop) {
        if (core_->tokenizer->is_valid_id(t)) buf_ += dec_->push(t);  // ids past the tokenizer: no text
      } else {
        buf_ += dec_->flush();
        text_done_ = true;
      }
      if (cut_at_stop_string()) {
        finish("stop");
        text_done_ = true;
      }
      size_t keep = text_done_ ? 0 : held_suffix();
      if (buf_.size() > keep) {
        *out = buf_.substr(0, buf_.size() - keep);
        buf_.erase(0, buf_.size() - keep);
        return true;
      }
    }
    return false;
  }

  const Stats& stats() const { return stats_; }

 private:
  bool finish(const char* reason) {
    if (!done_) stats_.finish_reason = reason;
    done_ = true;
    return false;
  }
  // Cuts buf_ at the earliest stop string; true when one was found.
  bool cut_at_stop_string() {
    size_t best = std::string::npos;
    for (const auto& s : a_.stop) {
      if (s.empty()) continue;
      size_t p = buf_.find(s);
      if (p < best) best = p;
    }
    if (best == std::string::npos) return false;
    buf_.resize(best);
    return true;
  }
  // Length of the longest suffix of buf_ that is a proper prefix of a stop string (held back: it may yet
  // become one). Stop strings are valid UTF-8, so the cut falls on a character boundary.
  size_t held_suffix() const {
    size_t keep = 0;
    for (const auto& s : a_.stop)
      for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), buf_.size()); k > keep; --k)
        if (buf_.compare(buf_.size() - k, k, s, 0, k) == 0) {
          keep = k;
          break;
        }
    return keep;
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Slot> slot_;
  GenArgs a_;
  Sampler sampler_;
  std::unique_ptr<StreamDecoder> dec_;
  std::unique_ptr<Decoder> dev_;  // device-side decode loop (null: host path)
  std::vector<float> logits_;
  std::string buf_;
  int produced_ = 0;
  bool done_ = false, text_done_ = false;
  Stats stats_;
};

py::dict stats_dict(const Stats& s) {
  py::dict d;
  d["prompt_tokens"] = s.prompt_tokens;
  d["generated_tokens"] = s.generated_tokens;
  d["prefill_seconds"] = s.prefill_seconds;
  d["decode_seconds"] = s.decode_seconds;
  d["finish_reason"] = s.finish_reason;
  return d;
}

// ---- Python classes ---------------------------------------------------------------------------------------

class PyTokenizer {
 public:
  explicit PyTokenizer(std::shared_ptr<const Tokenizer> t) : t_(std::move(t)) {}
  static PyTokenizer open(const std::filesystem::path& fspath) {
    const std::string path = fspath.string();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      not_found("tokenizer path '" + path + "' does not exist (give a tokenizer.json or a model directory)");
    py::gil_scoped_release nogil;
    if (std::filesystem::is_directory(path, ec)) return PyTokenizer(Tokenizer::from_dir(path));
    return PyTokenizer(Tokenizer::from_file(path));
  }
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens, bool parse_special) const {
    py::gil_scoped_release nogil;
    return t_->encode(text, add_special_tokens, parse_special);
  }
  py::str decode(const py::handle& ids, bool skip_special_tokens) const {
    std::vector<int32_t> v = ids_from_py(ids, int64_t(t_->vocab_size()), "ids");
    std::string s;
    {
      py::gil_scoped_release nogil;
      s = t_->decode(v, skip_special_tokens);
    }
    return to_str(s);
  }
  const Tokenizer& t() const { return *t_; }

 private:
  std::shared_ptr<const Tokenizer> t_;
};

// Handle on a slot: the runner's own (live) or a detached copy.
class PyState {
 public:
  PyState(std::shared_ptr<Core> c, std::shared_ptr<Slot> s, bool live) : core_(std::move(c)), slot_(std::move(s)), live_(live) {}

  int64_t n_tokens() const {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    return slot_->st.n_tokens + (slot_->pending >= 0 ? 1 : 0);
  }
  py::object pending() const {
    int32_t p;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(core_->mu);
      p = slot_->pending;
    }
    return p >= 0 ? py::object(py::int_(p)) : py::object(py::none());
  }
  void save(const std::filesystem::path& path) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    if (slot_->pending >= 0 && live_) ++core_->epoch;
    slot_->flush(*core_->model);  // the file holds the whole sequence
    slot_->st.save(path.string());
  }
  void load(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) not_found("state file '" + path.string() + "' does not exist");
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    if (live_) ++core_->epoch;
    State tmp(slot_->st);
    tmp.load(path.string());  // checks before touching the slot
    slot_->st = tmp;
    slot_->pending = -1;
    slot_->history.clear();
  }
  PyState copy() const {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    auto s = std::make_shared<Slot>(*core_->model);
    s->st = slot_->st;
    s->pending = slot_->pending;
    s->history = slot_->history;
    return PyState(core_, s, false);
  }
  void reset() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    if (live_) ++core_->epoch;
    slot_->reset();
  }
  // this = other (a state of the same model, possibly from another Runner of an identical architecture).
  void assign(const PyState& o) {
    if (o.slot_ == slot_) return;
    py::gil_scoped_release nogil;
    if (o.core_ == core_) {
      std::lock_guard<std::mutex> lk(core_->mu);
      if (live_) ++core_->epoch;
      slot_->st = o.slot_->st;
      slot_->pending = o.slot_->pending;
      slot_->history = o.slot_->history;
      return;
    }
    const auto& a = core_->model->info().fingerprint;
    const auto& b = o.core_->model->info().fingerprint;
    XLSTM_CHECK(a == b, "cannot use a state of another model ({}) for this one ({})", b, a);
    std::vector<float> v;
    int32_t pend;
    int64_t nt;
    std::vector<int32_t> hist;
    {
      std::lock_guard<std::mutex> lk(o.core_->mu);
      v = o.slot_->st.to_host();
      pend = o.slot_->pending;
      nt = o.slot_->st.n_tokens;
      hist = o.slot_->history;
    }
    std::lock_guard<std::mutex> lk(core_->mu);
    if (live_) ++core_->epoch;
    slot_->st.from_host(v);
    slot_->st.n_tokens = nt;
    slot_->pending = pend;
    slot_->history = std::move(hist);
  }
  py::array_t<float> numpy() const {
    std::vector<float> v;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(core_->mu);
      v = slot_->st.to_host();
    }
    py::array_t<float> a(py::ssize_t(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
  }
  size_t nbytes() const { return slot_->st.floats() * 4; }
  std::string repr() const {
    return "<xlstm_cpp.State " + std::string(live_ ? "of a Runner" : "copy") + ": " + std::to_string(n_tokens()) +
           " tokens, " + std::to_string(nbytes()) + " bytes>";
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Slot> slot_;
  bool live_;
};

class PyStream;

class Runner {
 public:
  Runner(const std::optional<std::filesystem::path>& path, const std::string& device, int threads, const std::string& dtype,
         int chunk) {
    if (device != "cpu" && device != "cuda" && device != "auto")
      value_error("device must be 'cpu', 'cuda' or 'auto', got '" + device + "'");
    if (threads < 0) value_error("threads must be >= 0 (0: all cores), got " + std::to_string(threads));
    if (dtype != "auto" && dtype != "f32" && dtype != "bf16" && dtype != "f16")
      value_error("dtype must be 'auto', 'f32', 'bf16' or 'f16', got '" + dtype + "'");
    if (chunk < 0) value_error("chunk must be >= 0 (0: the config's chunk_size), got " + std::to_string(chunk));
    std::string dir = path ? path->string() : bundled_dir();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      not_found("model directory '" + dir + "' does not exist (give a directory with config.json and *.safetensors)");
    core_ = std::make_shared<Core>();
    core_->dir = dir;
    {
      py::gil_scoped_release nogil;
      core_->backend = make_backend(resolve_device(device, dir), threads);
      LoadOptions lo;
      lo.dtype = dtype;
      lo.chunk = chunk;
      core_->model = load_model(dir, *core_->backend, lo);
      if (file_exists(dir + "/tokenizer.json")) core_->tokenizer = Tokenizer::from_dir(dir);
    }
    slot_ = std::make_shared<Slot>(*core_->model);
  }

  static std::string bundled_dir() {
    if (const char* env = std::getenv("XLSTM_MODEL"); env && *env) return env;
    std::vector<std::string> cands = {kBundled};
    try {
      std::filesystem::path mod(py::module_::import("xlstm_cpp").attr("__file__").cast<std::string>());
      for (auto d = mod.parent_path(); !d.empty(); d = d.parent_path()) {
        cands.push_back((d / kBundled).string());
        if (d == d.parent_path()) break;
      }
    } catch (const py::error_already_set&) {
    }
#ifdef XLSTM_SOURCE_DIR
    cands.push_back(std::string(XLSTM_SOURCE_DIR) + "/" + kBundled);
#endif
    for (const auto& c : cands)
      if (file_exists(c + "/config.json")) return c;
    not_found(std::string("no model path given and the bundled model ") + kBundled +
                " was not found (looked in the working directory, next to the module and in the source tree; "
                "set XLSTM_MODEL or pass a path)");
  }

  // Prompt ids for a text or id prompt; BOS rules as the CLI's: text gets BOS when the config forces it and
  // the state is fresh.
  std::vector<int32_t> prompt_ids(const py::handle& prompt, bool continuing) const {
    if (py::isinstance<py::str>(prompt)) {
      const Tokenizer& tk = core_->tok();
      std::string text = prompt.cast<std::string>();
      std::vector<int32_t> ids;
      {
        py::gil_scoped_release nogil;
        ids = tk.encode(text, /*add_special_tokens=*/!continuing);
      }
      const ModelInfo& I = core_->model->info();
      if (!continuing && I.force_bos && I.bos_id >= 0 && (ids.empty() || ids[0] != I.bos_id))
        ids.insert(ids.begin(), I.bos_id);
      for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] >= I.vocab_size)
          value_error("prompt: the tokenizer gave id " + std::to_string(ids[i]) + ", outside the model's vocabulary of " +
                      std::to_string(I.vocab_size));
      return ids;
    }
    return ids_from_py(prompt, core_->vocab(), "prompt");
  }

  GenArgs gen_args(int max_tokens, const SampleArgs& s, const std::optional<std::vector<std::string>>& stop,
                   const std::optional<py::object>& stop_ids, bool ignore_eos, bool reset) const {
    if (max_tokens < 0) value_error("max_tokens must be >= 0, got " + std::to_string(max_tokens));
    GenArgs a;
    a.max_tokens = max_tokens;
    a.sample = s;
    sampling_from(s);  // checks
    if (stop) a.stop = *stop;
    for (const auto& x : a.stop)
      if (x.empty()) value_error("stop strings must be non-empty");
    if (stop_ids && !stop_ids->is_none()) a.stop_ids = ids_from_py(*stop_ids, core_->vocab(), "stop_ids");
    a.stop_at_eos = !ignore_eos;
    a.reset = reset;
    return a;
  }

  // A session for `prompt` on the runner's slot (GIL held: encodes the prompt). Start it with start().
  std::unique_ptr<Session> prepare(const py::handle& prompt, const GenArgs& a, bool text,
                                   std::vector<int32_t>* ids) {
    if (text) core_->tok();
    bool continuing = false;
    if (!a.reset) {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(core_->mu);
      continuing = slot_->st.n_tokens > 0 || slot_->pending >= 0;
    }
    *ids = prompt_ids(prompt, continuing);
    return std::make_unique<Session>(core_, slot_, a, text);
  }
  // Resets (if asked) and prefills; GIL released and the core's lock held. Returns the new epoch.
  uint64_t start(Session& s, const std::vector<int32_t>& ids, bool reset) {
    const uint64_t epoch = ++core_->epoch;
    if (reset) slot_->reset();
    XLSTM_CHECK(!ids.empty() || slot_->pending >= 0,
                "empty prompt: at least one token is needed (the state has no pending token to continue from)");
    s.start(ids);
    return epoch;
  }

  py::str generate(const py::object& prompt, int max_tokens, const SampleArgs& s,
                   const std::optional<std::vector<std::string>>& stop, const std::optional<py::object>& stop_ids,
                   bool ignore_eos, bool reset) {
    GenArgs a = gen_args(max_tokens, s, stop, stop_ids, ignore_eos, reset);
    std::vector<int32_t> ids;
    auto sess = prepare(prompt, a, true, &ids);
    std::string text;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(core_->mu);
      start(*sess, ids, reset);
      std::string piece;
      while (sess->next_piece(&piece)) text += piece;
      last_ = sess->stats();
    }
    return to_str(text);
  }

  std::vector<int32_t> generate_ids(const py::object& prompt, int max_tokens, const SampleArgs& s,
                                    const std::optional<py::object>& stop_ids, bool ignore_eos, bool reset) {
    if (py::isinstance<py::str>(prompt)) throw py::type_error("generate_ids takes token ids; use generate() for text");
    GenArgs a = gen_args(max_tokens, s, std::nullopt, stop_ids, ignore_eos, reset);
    std::vector<int32_t> ids;
    auto sess = prepare(prompt, a, false, &ids);
    std::vector<int32_t> out;
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    start(*sess, ids, reset);
    int32_t t;
    bool is_stop;
    while (sess->next_token(&t, &is_stop)) out.push_back(t);
    last_ = sess->stats();
    return out;
  }

  PyStream stream(const py::object& prompt, int max_tokens, const SampleArgs& s,
                  const std::optional<std::vector<std::string>>& stop, const std::optional<py::object>& stop_ids,
                  bool ignore_eos, bool reset);

  int32_t generate_next_token(const py::object& ids_obj, const SampleArgs& s) {
    std::vector<int32_t> ids = ids_from_py(ids_obj, core_->vocab(), "ids");
    SamplingParams p = sampling_from(s);
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    ++core_->epoch;
    XLSTM_CHECK(!ids.empty() || slot_->pending >= 0,
                "generate_next_token: no ids given and the state has no pending token to feed");
    // One random stream across calls: reseeded when seed= is given or the sampling parameters change.
    auto same = [](const SamplingParams& a, const SamplingParams& b) {
      return a.temperature == b.temperature && a.top_k == b.top_k && a.top_p == b.top_p && a.min_p == b.min_p &&
             a.repeat_penalty == b.repeat_penalty && a.repeat_last_n == b.repeat_last_n;
    };
    if (s.seed || !step_sampler_ || !same(p, step_sampler_->params())) {
      if (!s.seed && step_sampler_) p.seed = step_sampler_->params().seed + 0x9e3779b97f4a7c15ull;
      step_sampler_.emplace(p);
    }
    std::vector<float> logits = slot_->feed(*core_->model, ids, true);
    const int32_t t = step_sampler_->sample(logits.data(), core_->vocab(), slot_->history);
    slot_->pending = t;
    slot_->history.push_back(t);
    return t;
  }

  py::array_t<float> logits(const py::object& ids_obj, std::optional<int> last) {
    std::vector<int32_t> ids = ids_from_py(ids_obj, core_->vocab(), "ids");
    const int T = int(ids.size());
    if (T == 0) value_error("ids is empty: at least one token is needed");
    if (last && (*last < 1 || *last > T))
      value_error("last must be in [1, " + std::to_string(T) + "], got " + std::to_string(*last));
    const int n_out = last ? *last : T;
    const int64_t V = core_->vocab();
    py::array_t<float> out({py::ssize_t(n_out), py::ssize_t(V)});
    float* dst = out.mutable_data();
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    State st(*core_->model);
    float* sp = st.data();
    core_->model->forward(ids.data(), 1, T, &sp, n_out, dst);
    return out;
  }

  double perplexity(const py::object& text_or_ids, int segment) {
    if (segment < 1) value_error("segment must be >= 1, got " + std::to_string(segment));
    std::vector<int32_t> ids = prompt_ids(text_or_ids, false);
    if (ids.size() < 2) value_error("perplexity needs at least 2 tokens, got " + std::to_string(ids.size()));
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    return xlstm::perplexity(*core_->model, ids, segment).ppl();
  }

  void reset_state() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    ++core_->epoch;
    slot_->reset();
  }

  PyState state() const { return PyState(core_, slot_, true); }
  void set_state(const PyState& s) { PyState(core_, slot_, true).assign(s); }

  py::dict info() const {
    const ModelInfo& I = core_->model->info();
    py::dict d;
    d["arch"] = I.arch;
    d["path"] = I.path;
    d["blocks"] = I.num_blocks;
    d["hidden"] = I.hidden;
    d["heads"] = I.num_heads;
    d["qk_dim"] = I.qk_dim;
    d["v_dim"] = I.v_dim;
    d["ffn_dim"] = I.ffn_dim;
    d["vocab"] = I.vocab_size;
    d["params"] = I.n_params;
    d["weight_bytes"] = I.weight_bytes;
    d["dtype"] = dtype_lower(I.weight_dtype);
    d["stored_dtype"] = I.stored_dtype;
    d["device"] = core_->backend->name();
    d["device_description"] = core_->backend->description();
    d["state_bytes"] = core_->model->state_floats() * 4;
    d["chunk"] = core_->model->chunk();
    d["bos_id"] = I.bos_id;
    d["eos_id"] = I.eos_id;
    d["eos_ids"] = I.eos_ids;
    d["tokenizer"] = bool(core_->tokenizer);
    return d;
  }

  py::object tokenizer() const {
    return core_->tokenizer ? py::cast(PyTokenizer(core_->tokenizer)) : py::object(py::none());
  }
  py::object last_stats() const {
    std::optional<Stats> s;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(core_->mu);
      s = last_;
    }
    return s ? py::object(stats_dict(*s)) : py::object(py::none());
  }
  std::string repr() const {
    const ModelInfo& I = core_->model->info();
    return "<xlstm_cpp.Runner " + core_->dir + ": " + std::to_string(I.num_blocks) + " blocks, hidden " +
           std::to_string(I.hidden) + ", " + dtype_lower(I.weight_dtype) + " on " + core_->backend->name() + ">";
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Slot> slot_;
  std::optional<Sampler> step_sampler_;
  std::optional<Stats> last_;
};

// Iterator over text pieces. Each __next__ runs the model without the GIL; using the runner for anything
// else that changes its state ends the stream (the next __next__ raises).
class PyStream {
 public:
  PyStream(Runner* r, std::unique_ptr<Session> s, uint64_t epoch) : runner_(r), core_(r->core_), sess_(std::move(s)), epoch_(epoch) {}
  py::str next() {
    if (!sess_) throw py::stop_iteration();
    std::string piece;
    bool got;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(core_->mu);
      XLSTM_CHECK(core_->epoch == epoch_, "this stream was interrupted: the runner's state was changed by another call");
      got = sess_->next_piece(&piece);
      if (!got) runner_->last_ = sess_->stats();
    }
    if (!got) {
      sess_.reset();
      throw py::stop_iteration();
    }
    return to_str(piece);
  }
  py::object stats() const { return sess_ ? py::object(stats_dict(sess_->stats())) : runner_->last_stats(); }

 private:
  Runner* runner_;  // kept alive by py::keep_alive
  std::shared_ptr<Core> core_;
  std::unique_ptr<Session> sess_;
  uint64_t epoch_;
};

PyStream Runner::stream(const py::object& prompt, int max_tokens, const SampleArgs& s,
                        const std::optional<std::vector<std::string>>& stop, const std::optional<py::object>& stop_ids,
                        bool ignore_eos, bool reset) {
  GenArgs a = gen_args(max_tokens, s, stop, stop_ids, ignore_eos, reset);
  std::vector<int32_t> ids;
  auto sess = prepare(prompt, a, true, &ids);
  uint64_t ep;
  {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lk(core_->mu);
    ep = start(*sess, ids, reset);
  }
  return PyStream(this, std::move(sess), ep);
}

}  // namespace

PYBIND11_MODULE(xlstm_cpp, m) {
  m.doc() = "xlstm.cpp: xLSTM language-model inference (CPU, and CUDA when built with it) from Python.";
  m.attr("__version__") = "0.1.0";
  static py::exception<Error> exc(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      exc(e.what());
    }
  });

  py::class_<PyTokenizer>(m, "Tokenizer",
                          "A Hugging Face tokenizer.json (byte-level BPE), encoding and decoding as HF tokenizers does.")
      .def(py::init(&PyTokenizer::open), py::arg("path"),
           "path: a tokenizer.json file, or a model directory holding one (tokenizer_config.json is read too).")
      .def("encode", &PyTokenizer::encode, py::arg("text"), py::arg("add_special_tokens") = true,
           py::arg("parse_special") = true,
           "Token ids of `text`. add_special_tokens: what the post-processor adds (e.g. BOS); parse_special=False "
           "treats special-token text as plain text.")
      .def("decode", &PyTokenizer::decode, py::arg("ids"), py::arg("skip_special_tokens") = false)
      .def_property_readonly("vocab_size", [](const PyTokenizer& t) { return t.t().vocab_size(); })
      .def_property_readonly("bos_id", [](const PyTokenizer& t) { return t.t().bos_id(); })
      .def_property_readonly("eos_id", [](const PyTokenizer& t) { return t.t().eos_id(); })
      .def_property_readonly("chat_template", [](const PyTokenizer& t) { return t.t().chat_template(); })
      .def("token_to_id", [](const PyTokenizer& t, const std::string& s) { return t.t().token_to_id(s); },
           py::arg("token"), "The id of a token string, or None.")
      .def("id_to_token", [](const PyTokenizer& t, int32_t id) { return t.t().id_to_token(id); }, py::arg("id"))
      .def("is_special", [](const PyTokenizer& t, int32_t id) { return t.t().is_special(id); }, py::arg("id"))
      .def("__len__", [](const PyTokenizer& t) { return t.t().num_tokens(); });

  py::class_<PyState>(m, "State",
                      "The recurrent state of one sequence (fixed size, whatever its length). runner.state is the "
                      "runner's own; .copy() gives a detached snapshot that can be assigned back (runner.state = s).")
      .def_property_readonly("n_tokens", &PyState::n_tokens, "Tokens in the sequence (pending one included).")
      .def_property_readonly("pending", &PyState::pending,
                             "The last sampled token, not yet fed into the state (fed first by the next call that "
                             "continues it), or None.")
      .def_property_readonly("nbytes", &PyState::nbytes)
      .def("save", &PyState::save, py::arg("path"),
           "Writes the state to a file (the pending token is fed first, so the file holds the whole sequence).")
      .def("load", &PyState::load, py::arg("path"), "Reads a state saved by save() for the same architecture.")
      .def("copy", &PyState::copy, "A detached deep copy (pending token included).")
      .def("reset", &PyState::reset, "Back to the zero state.")
      .def("numpy", &PyState::numpy, "The state's floats (a float32 copy).")
      .def("__repr__", &PyState::repr);

  py::class_<PyStream>(m, "Stream", "Iterator over generated text pieces (see Runner.stream).")
      .def("__iter__", [](PyStream& s) -> PyStream& { return s; })
      .def("__next__", &PyStream::next)
      .def_property_readonly("stats", &PyStream::stats);

  auto sampling = [](float temperature, int top_k, float top_p, float min_p, float repeat_penalty, int repeat_last_n,
                     std::optional<uint64_t> seed) {
    return SampleArgs{temperature, top_p, min_p, repeat_penalty, top_k, repeat_last_n, seed};
  };

  const char* gen_doc =
      "Generates from `prompt` (text, or a list of token ids) and returns the text. Stops after max_tokens, at the "
      "model's eos token (unless ignore_eos), at a token in stop_ids, or where the text first contains one of the "
      "`stop` strings (the text is cut before it). The token that ends generation is not part of the text. "
      "Sampling: repetition penalty, top-k, top-p, min-p, temperature (<= 0: greedy), seeded (seed=None: random). "
      "reset=True starts from the zero state; reset=False continues runner.state (its pending token first).";

  py::class_<Runner>(m, "Runner", "An xLSTM model loaded onto a device, with one recurrent state (runner.state).")
      .def(py::init<const std::optional<std::filesystem::path>&, const std::string&, int, const std::string&, int>(),
           py::arg("path") = py::none(), py::arg("device") = "auto", py::arg("threads") = 0, py::arg("dtype") = "auto",
           py::arg("chunk") = 0,
           "path: model directory (config.json + safetensors [+ tokenizer.json]); None: the bundled "
           "models/xlstm-kjv-tiny (or $XLSTM_MODEL). device: 'cpu', 'cuda' or 'auto'. threads: CPU threads (0: all "
           "cores). dtype: weights as run: 'auto' (as stored; bf16 on CUDA), 'f32', 'bf16', 'f16'. chunk: chunk "
           "length of the chunkwise prefill (0: the config's).")
      .def(
          "generate",
          [sampling](Runner& r, const py::object& prompt, int max_tokens, float temperature, int top_k, float top_p,
                     float min_p, float repeat_penalty, int repeat_last_n, const py::object& stop,
                     const std::optional<py::object>& stop_ids, std::optional<uint64_t> seed, bool ignore_eos, bool reset) {
            return r.generate(prompt, max_tokens,
                              sampling(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed), stop_list(stop),
                              stop_ids, ignore_eos, reset);
          },
          py::arg("prompt"), py::arg("max_tokens") = 50, py::arg("temperature") = 0.8f, py::arg("top_k") = 40,
          py::arg("top_p") = 0.95f, py::arg("min_p") = 0.05f, py::arg("repeat_penalty") = 1.0f,
          py::arg("repeat_last_n") = 64, py::arg("stop") = py::none(), py::arg("stop_ids") = py::none(),
          py::arg("seed") = 1, py::arg("ignore_eos") = false, py::arg("reset") = true, gen_doc)
      .def(
          "stream",
          [sampling](Runner& r, const py::object& prompt, int max_tokens, float temperature, int top_k, float top_p,
                     float min_p, float repeat_penalty, int repeat_last_n, const py::object& stop,
                     const std::optional<py::object>& stop_ids, std::optional<uint64_t> seed, bool ignore_eos, bool reset) {
            return r.stream(prompt, max_tokens,
                            sampling(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed), stop_list(stop),
                            stop_ids, ignore_eos, reset);
          },
          py::arg("prompt"), py::arg("max_tokens") = 50, py::arg("temperature") = 0.8f, py::arg("top_k") = 40,
          py::arg("top_p") = 0.95f, py::arg("min_p") = 0.05f, py::arg("repeat_penalty") = 1.0f,
          py::arg("repeat_last_n") = 64, py::arg("stop") = py::none(), py::arg("stop_ids") = py::none(),
          py::arg("seed") = 1, py::arg("ignore_eos") = false, py::arg("reset") = true, py::keep_alive<0, 1>(),
          "As generate(), yielding the text in pieces as it is generated (never a partial UTF-8 character, never "
          "text that a stop string may still cut); the pieces join to what generate() returns. The prompt is read "
          "when stream() is called; each piece is computed without the GIL.")
      .def(
          "generate_ids",
          [sampling](Runner& r, const py::object& ids, int max_tokens, float temperature, int top_k, float top_p,
                     float min_p, float repeat_penalty, int repeat_last_n, const std::optional<py::object>& stop_ids,
                     std::optional<uint64_t> seed, bool ignore_eos, bool reset) {
            return r.generate_ids(ids, max_tokens,
                                  sampling(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed),
                                  stop_ids, ignore_eos, reset);
          },
          py::arg("ids"), py::arg("max_tokens") = 50, py::arg("temperature") = 0.8f, py::arg("top_k") = 40,
          py::arg("top_p") = 0.95f, py::arg("min_p") = 0.05f, py::arg("repeat_penalty") = 1.0f,
          py::arg("repeat_last_n") = 64, py::arg("stop_ids") = py::none(), py::arg("seed") = 1,
          py::arg("ignore_eos") = false, py::arg("reset") = true,
          "As generate() on token ids (taken as given: no BOS is added); returns the new ids, including the eos or "
          "stop id that ended generation (same ids as `xlstm generate --print-ids`).")
      .def(
          "generate_next_token",
          [sampling](Runner& r, const py::object& ids, float temperature, int top_k, float top_p, float min_p,
                     float repeat_penalty, int repeat_last_n, std::optional<uint64_t> seed) {
            return r.generate_next_token(ids, sampling(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed));
          },
          py::arg("ids") = py::list(), py::arg("temperature") = 0.0f, py::arg("top_k") = 40, py::arg("top_p") = 0.95f,
          py::arg("min_p") = 0.05f, py::arg("repeat_penalty") = 1.0f, py::arg("repeat_last_n") = 64,
          py::arg("seed") = py::none(),
          "Feeds `ids` into runner.state and returns the next token (greedy by default: temperature=0). The returned "
          "token is NOT consumed: it becomes state.pending and is fed at the start of the next call that continues "
          "the state. So pass only new tokens: `t = r.generate_next_token(prompt)`, then `t = "
          "r.generate_next_token()` for each further token (passing t back would feed it twice). Sampling draws come "
          "from one random stream per runner, reseeded by seed=.")
      .def("logits", &Runner::logits, py::arg("ids"), py::arg("last") = py::none(),
           "float32 logits [T, vocab] for `ids` from the zero state (one prefill; runner.state is untouched). "
           "last=N: only the last N rows. Same numbers as `xlstm logits`.")
      .def("perplexity", &Runner::perplexity, py::arg("text_or_ids"), py::arg("segment") = 512,
           "exp(mean NLL) of tokens 1..N-1 given their prefix, from the zero state (runner.state is untouched).")
      .def("reset_state", &Runner::reset_state, "runner.state back to the zero state (pending token dropped).")
      .def_property("state", &Runner::state, &Runner::set_state,
                    "The runner's recurrent state (a live handle). Assigning a State (e.g. an earlier .copy()) "
                    "copies it in.")
      .def("info", &Runner::info, "Model facts: arch, blocks, hidden, heads, vocab, params, dtype, device, state_bytes, ...")
      .def_property_readonly("tokenizer", &Runner::tokenizer, "The model's Tokenizer, or None.")
      .def_property_readonly("last_stats", &Runner::last_stats,
                             "Of the last finished generation: prompt_tokens, generated_tokens, prefill_seconds, "
                             "decode_seconds, finish_reason ('stop' or 'length').")
      .def("__repr__", &Runner::repr);

  m.def("cuda_available", []() {
    std::string why;
    bool ok = cuda_available(&why);
    return py::make_tuple(ok, why);
  }, "(available, reason) for the CUDA backend.");
}
