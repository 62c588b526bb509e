// Why: `xlstm serve`: the OpenAI-compatible HTTP server (src/server) on a loaded model. Prints one startup
// line with the URL on stdout; SIGINT/SIGTERM end running requests (503), close the listener and exit 0.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <thread>

#include "command.h"
#include "common/check.h"
#include "model_opts.h"
#include "prompt.h"
#include "server/chat.h"
#include "server/http_server.h"
#include "tokenizer/tokenizer.h"

namespace xlstm::cli {
namespace {

int g_signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
  const char c = char(sig);
  const int saved = errno;
  if (::write(g_signal_pipe[1], &c, 1) < 0) {
  }
  errno = saved;
}

XLSTM_COMMAND("serve", "OpenAI-compatible HTTP server with continuous batching", [](CLI::App& sub) {
  struct Opts {
    ModelOpts m;
    server::ServerOptions s;
  };
  auto o = std::make_shared<Opts>();
  add_model_opts(sub, o->m, true);
  sub.add_option("--host", o->s.host, "address to listen on")->capture_default_str();
  sub.add_option("--port", o->s.port, "port to listen on (0: any free port)")->capture_default_str();
  sub.add_option("--parallel", o->s.scheduler.parallel, "sequences decoded together (slots)")->capture_default_str();
  sub.add_option("--max-prompt-tokens,--ctx", o->s.max_prompt_tokens, "longest prompt accepted, in tokens")
      ->capture_default_str();
  sub.add_option("--max-tokens", o->s.max_tokens, "largest max_tokens a request may ask for (chat's default)")
      ->capture_default_str();
  sub.add_option("--max-queue", o->s.scheduler.max_queue, "requests that may wait for a slot (more: 429)")
      ->capture_default_str();
  sub.add_option("--max-body-bytes", o->s.max_body_bytes, "largest request body (more: 413)")->capture_default_str();
  sub.add_option("--prefill-chunk", o->s.scheduler.prefill_chunk,
                 "prompt tokens per prefill piece, interleaved with decode steps")
      ->capture_default_str();
  sub.add_option("--alias", o->s.model_id, "model id shown by /v1/models (default: the model directory's name)");
  sub.add_flag("--log-requests", o->s.log_requests, "print one stderr line per request");
  return std::function<int()>([o] {
    XLSTM_CHECK(o->s.scheduler.parallel >= 1, "--parallel must be >= 1, got {}", o->s.scheduler.parallel);
    XLSTM_CHECK(o->s.scheduler.max_queue >= 0, "--max-queue must be >= 0, got {}", o->s.scheduler.max_queue);
    XLSTM_CHECK(o->s.scheduler.prefill_chunk >= 1, "--prefill-chunk must be >= 1, got {}",
                o->s.scheduler.prefill_chunk);
    XLSTM_CHECK(o->s.max_prompt_tokens >= 1, "--max-prompt-tokens must be >= 1, got {}", o->s.max_prompt_tokens);
    XLSTM_CHECK(o->s.max_tokens >= 1, "--max-tokens must be >= 1, got {}", o->s.max_tokens);
    XLSTM_CHECK(o->s.max_body_bytes >= 1, "--max-body-bytes must be >= 1");
    XLSTM_CHECK(o->s.port >= 0 && o->s.port <= 65535, "--port must be in [0, 65535], got {}", o->s.port);
    Loaded L = load(o->m);
    auto tok = model_tokenizer(*L.model);
    server::HttpServer srv(*L.model, tok, o->s);
    srv.bind();
    // SIGINT/SIGTERM may land on any thread (OpenBLAS starts its own before main), so the handler only
    // writes the signal number to a pipe; a watcher thread reads it and stops the server.
    XLSTM_CHECK(::pipe(g_signal_pipe) == 0, "cannot create the signal pipe");
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::thread watcher([&srv] {
      char sig = 0;
      while (::read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
      }
      if (sig == 0) return;  // the main thread's wake-up after run() returned on its own
      std::fprintf(stderr, "xlstm serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      srv.stop();
    });
    std::printf("xlstm serve: listening on %s (model %s, %s backend, %d slots, chat format %s)\n",
                srv.url().c_str(), srv.model_id().c_str(), L.backend->name().c_str(), o->s.scheduler.parallel,
                server::chat_format_name(server::detect_chat_format(tok.get())));
    std::fflush(stdout);
    srv.run();
    const char zero = 0;
    if (::write(g_signal_pipe[1], &zero, 1) < 0) {  // wakes the watcher if no signal came
    }
    watcher.join();
    std::fprintf(stderr, "xlstm serve: stopped\n");
    return 0;
  });
});

}  // namespace
}  // namespace xlstm::cli
