// Why: see server_test_support.h.
#include "server_test_support.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "io/mapped_file.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace xlstm::test {

TestServer::TestServer(const std::string& dir, server::ServerOptions opt) {
  be_ = make_backend("cpu", 1);
  model_ = load_model(dir, *be_);
  std::shared_ptr<const Tokenizer> tok;
  if (file_exists(dir + "/tokenizer.json")) tok = Tokenizer::from_dir(dir);
  opt.host = "127.0.0.1";
  opt.port = 0;
  srv_ = std::make_unique<server::HttpServer>(*model_, tok, opt);
  port_ = srv_->bind();
  thread_ = std::thread([this] { srv_->run(); });
}

TestServer::~TestServer() {
  srv_->stop();
  thread_.join();
  srv_.reset();  // the scheduler (and its states) before the model and backend
}

std::unique_ptr<httplib::Client> TestServer::client() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
  c->set_read_timeout(120, 0);
  c->set_write_timeout(120, 0);
  return c;
}

namespace {
Reply to_reply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  out.json = nlohmann::json::parse(r->body, nullptr, false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}
}  // namespace

Reply post(const TestServer& s, const std::string& path, const std::string& body, const std::string& content_type) {
  return to_reply(s.client()->Post(path.c_str(), body, content_type.c_str()));
}

Reply get(const TestServer& s, const std::string& path) { return to_reply(s.client()->Get(path.c_str())); }

StreamReply post_stream(const TestServer& s, const std::string& path, const std::string& body,
                        const std::function<bool(const nlohmann::json&)>& on_event) {
  StreamReply out;
  std::string pending;  // bytes of an event not yet complete
  bool hung_up = false;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&](const httplib::Response& r) {
    out.status = r.status;
    out.content_type = r.get_header_value("Content-Type");
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    out.body.append(data, n);
    if (out.status != 200) return true;
    pending.append(data, n);
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::string ev = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (ev.rfind("data: ", 0) != 0) continue;
      std::string payload = ev.substr(6);
      if (out.done) {  // anything after [DONE] is an error
        out.done = false;
        out.events.push_back(nlohmann::json{{"unexpected_after_done", payload}});
        continue;
      }
      if (payload == "[DONE]") {
        out.done = true;
        continue;
      }
      nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
      if (j.is_discarded()) j = nlohmann::json{{"unparsable", payload}};
      out.events.push_back(j);
      if (on_event && !on_event(j)) {
        hung_up = true;
        return false;
      }
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  auto c = s.client();
  c->send(req, res, err);
  if (!hung_up && out.status == 0) out.status = res.status;
  return out;
}

int64_t metric(const TestServer& s, const std::string& name) {
  Reply r = get(s, "/metrics");
  const std::string key = "\n" + name + " ";
  const std::string body = "\n" + r.body;
  const size_t p = body.find(key);
  if (p == std::string::npos) return -1;
  return std::stoll(body.substr(p + key.size()));
}

bool wait_metric(const TestServer& s, const std::string& name, const std::function<bool(int64_t)>& pred,
                 double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (pred(metric(s, name))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

CliProcess::CliProcess(const std::vector<std::string>& args, const std::string& err_file) : err_path(err_file) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    FILE* e = std::fopen(err_file.c_str(), "w");
    if (e) ::dup2(fileno(e), 2);
    ::close(fds[0]);
    std::vector<std::string> all = {cli_path()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out = fds[0];
}

CliProcess::~CliProcess() {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  if (out >= 0) ::close(out);
}

std::string CliProcess::line() {
  std::string s;
  char c;
  while (true) {
    pollfd p{out, POLLIN, 0};
    if (::poll(&p, 1, 120000) <= 0) return s;
    if (::read(out, &c, 1) != 1 || c == '\n') return s;
    s += c;
  }
}

int CliProcess::wait() {
  int st = 0;
  ::waitpid(pid, &st, 0);
  pid = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int port_of(const std::string& startup) {
  const std::string key = "http://127.0.0.1:";
  const size_t p = startup.find(key);
  return p == std::string::npos ? -1 : std::atoi(startup.c_str() + p + key.size());
}

}  // namespace xlstm::test
