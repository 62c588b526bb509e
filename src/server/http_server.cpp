// Why: see http_server.h.
#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <thread>

#include "common/check.h"
#include "server/openai.h"
#include "tokenizer/tokenizer.h"

namespace xlstm::server {

using json = nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& param = "",
                const std::string& code = "") {
  send_json(res, status, error_json(status, message, param, code));
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

std::string dir_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// A request id: random-looking, unique in this process.
std::string request_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t x = (++counter) * 0x9E3779B97F4A7C15ULL ^ salt;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(x));
  return std::string(prefix) + buf;
}

}  // namespace

struct HttpServer::Impl {
  Impl(Model& m, std::shared_ptr<const Tokenizer> tok, const ServerOptions& o)
      : model(m), opt(o), sched(m, tok, o.scheduler) {
    XLSTM_CHECK(o.max_prompt_tokens >= 1, "max prompt tokens must be >= 1, got {}", o.max_prompt_tokens);
    XLSTM_CHECK(o.max_tokens >= 1, "max tokens must be >= 1, got {}", o.max_tokens);
    XLSTM_CHECK(o.max_body_bytes >= 1, "max body bytes must be >= 1");
    XLSTM_CHECK(o.port >= 0 && o.port <= 65535, "port must be in [0, 65535], got {}", o.port);
    const ModelInfo& I = m.info();
    ctx.vocab_size = I.vocab_size;
    ctx.tokenizer = tok;
    ctx.bos_id = I.bos_id;
    ctx.force_bos = I.force_bos;
    ctx.chat_format = detect_chat_format(tok.get());
    ctx.max_prompt_tokens = o.max_prompt_tokens;
    ctx.max_tokens = o.max_tokens;
    model_id = !o.model_id.empty() ? o.model_id
               : I.path.rfind("random:", 0) == 0 ? "random-" + dir_name(I.path.substr(7))
                                                 : dir_name(I.path);
    created = int64_t(std::time(nullptr));
    started = std::chrono::steady_clock::now();
    routes();
  }

  void routes();
  void generate(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read, bool chat);
  std::string metrics() const;

  Model& model;
  ServerOptions opt;
  ApiContext ctx;
  std::string model_id;
  int64_t created = 0;
  std::chrono::steady_clock::time_point started;  // for xlstm_uptime_seconds
  int port = -1;
  Scheduler sched;
  httplib::Server svr;
  std::atomic<bool> stopped{false};
  std::atomic<int> run_state{0};  // 0: run() not entered, 1: in run(), 2: run() returned
};

void HttpServer::Impl::routes() {
  // Enough pool threads for every slot, every queued request and a few quick calls (health, metrics, a
  // 429): a request that waits holds its thread.
  const size_t threads = size_t(opt.scheduler.parallel) + size_t(opt.scheduler.max_queue) + 4;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(opt.max_body_bytes);
  // httplib's default sets SO_REUSEPORT too, which lets a second server bind the same port and silently
  // share its connections; SO_REUSEADDR alone still allows a restart while old connections linger.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });

  svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (stopped) return send_json(res, 503, {{"status", "shutting down"}});
    send_json(res, 200, {{"status", "ok"}});
  });
  svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json m = {{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "xlstm.cpp"}};
    send_json(res, 200, {{"object", "list"}, {"data", json::array({m})}});
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics(), "text/plain; version=0.0.4");
  });
  // Bodies are JSON whatever their Content-Type says. The handlers read the body themselves (ContentReader
  // handlers): httplib then applies only the size limit, not its form decoding, which caps bodies labelled
  // application/x-www-form-urlencoded (curl -d's default) at 8 KiB; and a multipart body is refused unread.
  svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& read) { generate(req, res, read, false); });
  svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& read) { generate(req, res, read, true); });

  // Every error httplib itself produces (404 unknown path, 413 body too large, 400 unreadable request)
  // gets an OpenAI-shaped body too; errors the handlers already wrote are left alone.
  svr.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg;
    if (res.status == 404)
      msg = "no such endpoint: " + req.method + " " + req.path;
    else if (res.status == 413)
      msg = "the request body is larger than this server's limit of " + std::to_string(opt.max_body_bytes) +
            " bytes (--max-body-bytes)";
    else
      msg = "the request could not be handled (HTTP " + std::to_string(res.status) + ")";
    send_error(res, res.status, msg);
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "internal error: " + what);
  });
  if (opt.log_requests)
    svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::fprintf(stderr, "%s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
    });
}

// What a streaming response needs between calls of its content provider.
struct StreamState {
  std::shared_ptr<Sequence> seq;
  ApiRequest req;
  ResponseMeta meta;
  bool first = true, done = false;
};

void HttpServer::Impl::generate(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read,
                                bool chat) {
  if (req.is_multipart_form_data())
    return send_error(res, 400, "the request body must be JSON, not multipart/form-data");
  std::string body;
  if (!read([&](const char* d, size_t n) {
        body.append(d, n);
        return true;
      })) {
    if (res.status < 400) res.status = 400;  // httplib set 413 (too large) or 400 (unreadable)
    return;                                   // the error handler writes the body
  }
  ApiRequest ar;
  std::shared_ptr<Sequence> seq;
  try {
    ar = chat ? parse_chat_request(body, ctx) : parse_completion_request(body, ctx);
    seq = sched.submit(ar.seq);
  } catch (const ApiError& e) {
    return send_error(res, e.status, e.what(), e.param, e.code);
  } catch (const QueueFull& e) {
    return send_error(res, 429, e.what(), "", "too_many_requests");
  } catch (const ShuttingDown& e) {
    return send_error(res, 503, e.what());
  } catch (const std::exception& e) {
    return send_error(res, 500, std::string("internal error: ") + e.what());
  }
  ResponseMeta meta{request_id(chat ? "chatcmpl-" : "cmpl-"), model_id, int64_t(std::time(nullptr))};

  if (!ar.stream) {  // a client that hangs up here is not noticed: the sequence runs to its end
    SequenceOutput out = seq->wait_all();
    if (out.error_status) return send_error(res, out.error_status, out.error);
    return send_json(res, 200, response_json(ar, meta, out));
  }

  auto st = std::make_shared<StreamState>();
  st->seq = seq;
  st->req = std::move(ar);
  st->meta = meta;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](size_t, httplib::DataSink& sink) {
        if (st->done) return false;
        SequenceOutput out;
        if (!st->seq->take(out, std::chrono::milliseconds(250))) return true;  // nothing yet; called again
        std::string data;
        if (out.error_status) {
          data += sse(error_json(out.error_status, out.error));
        } else {
          const bool has_text = !out.text.empty() || (!st->req.chat && !out.ids.empty());
          if (has_text || out.finished || st->first)
            data += sse(chunk_json(st->req, st->meta, out.text, out.ids, out.finished ? out.finish_reason : "",
                                   st->first));
          st->first = false;
          if (out.finished && st->req.include_usage)
            data += sse(usage_chunk_json(st->req, st->meta, out.prompt_tokens, out.completion_tokens));
        }
        if (out.finished && !out.error_status) data += "data: [DONE]\n\n";  // an error ends without it
        if (data.empty()) return true;  // (httplib ends the stream at a write of 0 bytes)
        if (!sink.write(data.data(), data.size())) {  // the client went away: stop its sequence
          st->seq->cancel();
          return false;
        }
        if (out.finished) {
          st->done = true;
          sink.done();
        }
        return true;
      },
      [st](bool) {
        if (!st->seq->finished()) st->seq->cancel();
      });
}

std::string HttpServer::Impl::metrics() const {
  const SchedulerStats s = sched.stats();
  std::string out;
  auto add = [&](const char* name, const char* type, const char* help, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(v) + "\n";
  };
  add("xlstm_requests_total", "counter", "requests accepted into the queue", s.requests_total);
  add("xlstm_requests_finished_total", "counter", "requests that ended with a finish reason", s.requests_finished);
  add("xlstm_requests_cancelled_total", "counter", "requests ended because the client went away",
      s.requests_cancelled);
  add("xlstm_requests_failed_total", "counter", "requests ended by an engine error or shutdown", s.requests_failed);
  add("xlstm_prefill_chunks_total", "counter", "prefill pieces run", s.prefill_chunks);
  add("xlstm_prefill_tokens_total", "counter", "prompt tokens consumed", s.prefill_tokens);
  add("xlstm_generated_tokens_total", "counter", "tokens generated for requests (first tokens included)",
      s.generated_tokens);
  // Decode steps by sampling path: "device" (Decoder: decode_step + device sampling), "host" (forward + host
  // sampling, for the repetition penalty).
  auto decode = [&](const char* name, const char* type, const char* help, int64_t DecodeStats::*field) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += std::string(name) + "{path=\"device\"} " + std::to_string(s.device.*field) + "\n";
    out += std::string(name) + "{path=\"host\"} " + std::to_string(s.host.*field) + "\n";
  };
  decode("xlstm_decode_steps_total", "counter", "batched decode steps run", &DecodeStats::steps);
  decode("xlstm_decode_steps_batched_total", "counter", "decode steps with more than one sequence",
         &DecodeStats::steps_batched);
  decode("xlstm_decode_tokens_total", "counter", "tokens decoded (sum of the steps' batch sizes)", &DecodeStats::tokens);
  decode("xlstm_decode_batch_max", "gauge", "largest decode batch so far", &DecodeStats::batch_max);
  add("xlstm_slots_busy", "gauge", "slots holding a sequence now", s.slots_busy);
  add("xlstm_slots_total", "gauge", "slots (--parallel)", s.parallel);
  add("xlstm_requests_queued", "gauge", "requests waiting for a slot now", s.queued);
  const double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  out += fmt::format("# HELP xlstm_uptime_seconds seconds since the server started\n# TYPE xlstm_uptime_seconds gauge\n"
                     "xlstm_uptime_seconds {:.3f}\n", up);
  return out;
}

HttpServer::HttpServer(Model& model, std::shared_ptr<const Tokenizer> tok, const ServerOptions& opt)
    : impl_(std::make_unique<Impl>(model, std::move(tok), opt)) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  Impl& I = *impl_;
  if (I.opt.port == 0) {
    I.port = I.svr.bind_to_any_port(I.opt.host);
    XLSTM_CHECK(I.port > 0, "cannot listen on {} (any port): address not available", I.opt.host);
  } else {
    XLSTM_CHECK(I.svr.bind_to_port(I.opt.host, I.opt.port), "cannot listen on {}:{}: address in use or not available",
                I.opt.host, I.opt.port);
    I.port = I.opt.port;
  }
  return I.port;
}

void HttpServer::run() {
  Impl& I = *impl_;
  XLSTM_CHECK(I.port > 0, "HttpServer::run: call bind() first");
  std::signal(SIGPIPE, SIG_IGN);
  I.run_state = 1;  // before reading `stopped`: stop() then either sees us running or we see it
  if (!I.stopped) I.svr.listen_after_bind();
  I.run_state = 2;
}

void HttpServer::stop() {
  Impl& I = *impl_;
  I.stopped = true;
  I.sched.shutdown();  // wakes every handler waiting on a sequence (503), so the pool can drain
  if (I.run_state == 1)
    while (!I.svr.is_running() && I.run_state == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  I.svr.stop();
}

const std::string& HttpServer::model_id() const { return impl_->model_id; }
std::string HttpServer::url() const { return "http://" + impl_->opt.host + ":" + std::to_string(impl_->port); }
Scheduler& HttpServer::scheduler() { return impl_->sched; }

}  // namespace xlstm::server
