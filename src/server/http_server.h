// Why: the HTTP face of the server (cpp-httplib): routes, OpenAI-shaped errors, Server-Sent Events for
// streaming, /metrics. It owns a Scheduler, which owns all model work; the handlers only parse, submit and
// wait (each request is served on one of httplib's pool threads). Nothing here touches the backend.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "model/model.h"
#include "server/scheduler.h"

namespace xlstm {
class Tokenizer;
}

namespace xlstm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (bind() says which)
  SchedulerOptions scheduler;
  int max_prompt_tokens = 4096;          // longer prompts are refused (400 context_length_exceeded)
  int max_tokens = 4096;                 // a request's max_tokens may be 1 .. this (chat's default)
  size_t max_body_bytes = size_t(1) << 20;  // larger request bodies: 413
  std::string model_id;                  // the id /v1/models shows; "": the model directory's name
  bool log_requests = false;             // one stderr line per request (method, path, status)
};

class HttpServer {
 public:
  // tok: the model's tokenizer, or null (then only token-id prompts and id output).
  HttpServer(Model& model, std::shared_ptr<const Tokenizer> tok, const ServerOptions& opt);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port; returns the port. Throws xlstm::Error when the address cannot be had.
  int bind();
  // Serves until stop() (call bind() first). Ignores SIGPIPE for the process: a client that hangs up must
  // not kill the server.
  void run();
  // From any thread: queued and running requests end with 503, then the listener closes and run() returns.
  void stop();
  const std::string& model_id() const;
  std::string url() const;  // http://host:port
  Scheduler& scheduler();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xlstm::server
