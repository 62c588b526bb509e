// Why: the server tests run `xlstm serve`'s HttpServer in-process on an ephemeral port (CPU backend) and
// talk to it over real HTTP with httplib's client. This holds the server's life cycle and the small client
// helpers (JSON posts, Server-Sent-Events streams with hang-up, /metrics values) the suites share, and the
// child process for tests that run the `xlstm serve` binary itself.
#pragma once
#include <httplib.h>
#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"
#include "server/http_server.h"

namespace xlstm::test {

class TestServer {
 public:
  // Loads the model in `dir` on a 1-thread CPU backend (with its tokenizer when it has one) and serves it on
  // 127.0.0.1, any free port; opt.host/opt.port are overridden.
  TestServer(const std::string& dir, server::ServerOptions opt);
  ~TestServer();  // stops the server and waits for it
  int port() const { return port_; }
  std::unique_ptr<httplib::Client> client() const;  // read/write timeouts of 120 s
  server::HttpServer& http() { return *srv_; }

 private:
  std::unique_ptr<Backend> be_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<server::HttpServer> srv_;
  std::thread thread_;
  int port_ = 0;
};

struct Reply {
  int status = 0;          // 0: no HTTP response (connection error)
  std::string body;
  nlohmann::json json;     // the body parsed, or null when it is not JSON
};
Reply post(const TestServer& s, const std::string& path, const std::string& body,
           const std::string& content_type = "application/json");
Reply get(const TestServer& s, const std::string& path);

struct StreamReply {
  int status = 0;
  std::string content_type;
  std::vector<nlohmann::json> events;  // each `data: {...}` event, in order
  bool done = false;                   // `data: [DONE]` came (and was last)
  std::string body;                    // everything received (the error body for a non-200 reply)
};
// POSTs `body` and reads the event stream; on_event (optional) returns false to hang up at that event.
StreamReply post_stream(const TestServer& s, const std::string& path, const std::string& body,
                        const std::function<bool(const nlohmann::json&)>& on_event = nullptr);

// The value of a /metrics line `name value` (-1 when absent).
int64_t metric(const TestServer& s, const std::string& name);
// Polls /metrics until pred(value of name) holds; false after `seconds` (a safety net, not a timing check).
bool wait_metric(const TestServer& s, const std::string& name, const std::function<bool(int64_t)>& pred,
                 double seconds = 60);

// `xlstm ARGS...` as a child process with stdout on a pipe and stderr in a file; killed (SIGKILL) and reaped
// on destruction unless wait() was called.
struct CliProcess {
  pid_t pid = -1;
  int out = -1;
  std::string err_path;

  CliProcess(const std::vector<std::string>& args, const std::string& err_file);
  ~CliProcess();
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;
  // The next stdout line ("" if the process ends first or after 120 s, a safety net for a hung child).
  std::string line();
  // Exit code (128 + signal if killed by one).
  int wait();
};

// The port in `xlstm serve`'s startup line "xlstm serve: listening on http://127.0.0.1:PORT (...)"; -1 if none.
int port_of(const std::string& startup);

}  // namespace xlstm::test
