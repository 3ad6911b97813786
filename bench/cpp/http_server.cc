// http_server.cc: the HTTP/1.1 counterpart of server.cc, a C++ KServe v2
// server with the one model "identity", for measuring perfgo's HTTP client
// against a C++ server (Triton's HTTP front end, libevhtp, is built on
// libevent; this uses libevent's own evhttp).
//
//   http_server PORT [THREADS]   (0 picks a free port; THREADS default 2)
//
// It prints "HTTP on 127.0.0.1:NNNN". Each thread runs its own event loop
// and evhttp on its own listening socket bound to the same port with
// SO_REUSEPORT, so the kernel spreads connections over the threads and no
// request crosses threads. Connections are kept alive (HTTP/1.1).
//
// "identity" is server.cc's: FP32 INPUT0 [-1] -> OUTPUT0 [-1], max_batch_size
// 8, metadata shape [-1,-1]. Infer takes JSON tensors and the binary tensor
// extension (Inference-Header-Content-Length) and echoes INPUT0 as OUTPUT0,
// in binary when the request's output asks binary_data (or, with no output
// listed, when the request parameter binary_data_output is true), else as
// JSON, as Triton does. Statistics are cumulative, as Triton's.
// It stops on SIGINT/SIGTERM and when stdin reaches EOF.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <nlohmann/json.hpp>

#include "stop.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kModel = "identity";
constexpr std::string_view kVersion = "1";
constexpr int kMaxBatch = 8;
constexpr size_t kMaxBody = 64 << 20;

// The fixed answers, in the JSON Triton gives for the same descriptions
// (server.cc's over gRPC).
constexpr char kServerMetadata[] =
    R"({"name":"perfgo-cpp-http","version":"0.1.0","extensions":["binary_tensor_data","statistics","model_configuration"]})";
constexpr char kModelMetadata[] =
    R"({"name":"identity","versions":["1"],"platform":"perfgo-cpp",)"
    R"("inputs":[{"name":"INPUT0","datatype":"FP32","shape":[-1,-1]}],)"
    R"("outputs":[{"name":"OUTPUT0","datatype":"FP32","shape":[-1,-1]}]})";
constexpr char kModelConfig[] =
    R"({"name":"identity","platform":"perfgo-cpp","backend":"perfgo-cpp","version_policy":{"latest":{"num_versions":1}},)"
    R"("max_batch_size":8,"input":[{"name":"INPUT0","data_type":"TYPE_FP32","dims":[-1]}],)"
    R"("output":[{"name":"OUTPUT0","data_type":"TYPE_FP32","dims":[-1]}]})";

// Stats are shared by every thread: atomics, no lock.
struct Stats {
  std::atomic<uint64_t> inferences{0};  // batch elements
  std::atomic<uint64_t> executions{0};
  std::atomic<uint64_t> success{0};
  std::atomic<uint64_t> success_ns{0};
  std::atomic<uint64_t> fail{0};
  std::atomic<uint64_t> fail_ns{0};
  std::atomic<uint64_t> last_inference_ms{0};
};

void Reply(evhttp_request* req, int code, std::string_view body, const char* type = "application/json") {
  evkeyvalq* h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", type);
  evbuffer* out = evhttp_request_get_output_buffer(req);
  evbuffer_add(out, body.data(), body.size());
  evhttp_send_reply(req, code, nullptr, nullptr);
}

void ReplyError(evhttp_request* req, int code, const std::string& msg) {
  Reply(req, code, json{{"error", msg}}.dump());
}

std::string StatsJSON(const Stats& s) {
  auto pair = [](uint64_t count, uint64_t ns) { return json{{"count", count}, {"ns", ns}}; };
  uint64_t n = s.success.load(std::memory_order_relaxed);
  uint64_t ns = s.success_ns.load(std::memory_order_relaxed);
  // No queue: every request runs on arrival, so the queue counts it with
  // no time, and all its time is compute (as server.cc).
  json m = {
      {"name", kModel},
      {"version", kVersion},
      {"last_inference", s.last_inference_ms.load(std::memory_order_relaxed)},
      {"inference_count", s.inferences.load(std::memory_order_relaxed)},
      {"execution_count", s.executions.load(std::memory_order_relaxed)},
      {"inference_stats",
       {{"success", pair(n, ns)},
        {"fail", pair(s.fail.load(std::memory_order_relaxed), s.fail_ns.load(std::memory_order_relaxed))},
        {"queue", pair(n, 0)},
        {"compute_input", pair(0, 0)},
        {"compute_infer", pair(n, ns)},
        {"compute_output", pair(0, 0)}}},
      {"batch_stats", json::array()},
  };
  return json{{"model_stats", json::array({m})}}.dump();
}

// ParsedInfer is what Infer needs of a request: the tensor's shape and
// bytes, and how to answer.
struct ParsedInfer {
  int64_t batch = 0, width = 0;
  std::string data;  // little-endian FP32, batch*width of them
  bool binary_out = false;
  std::string id;  // JSON-encoded, empty when the request had none
};

// ParseInfer reads a v2 infer body (JSON, or JSON then binary tensors when
// header_len >= 0); it returns "" or what is wrong with the request.
std::string ParseInfer(const char* body, size_t len, long header_len, ParsedInfer* p) {
  size_t json_len = header_len < 0 ? len : static_cast<size_t>(header_len);
  json r = json::parse(body, body + json_len, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return "the request's JSON header is not a JSON object";
  if (auto id = r.find("id"); id != r.end() && id->is_string()) p->id = id->dump();
  auto inputs = r.find("inputs");
  if (inputs == r.end() || !inputs->is_array() || inputs->size() != 1) return "identity takes one input, INPUT0";
  const json& in = (*inputs)[0];
  if (!in.is_object() || in.value("name", "") != "INPUT0") return "identity takes one input, INPUT0";
  auto shape = in.find("shape");
  if (in.value("datatype", "") != "FP32" || shape == in.end() || !shape->is_array() || shape->size() != 2 ||
      !(*shape)[0].is_number_integer() || !(*shape)[1].is_number_integer()) {
    return "INPUT0 must be FP32 of shape [batch 1..8, n]";
  }
  p->batch = (*shape)[0].get<int64_t>();
  p->width = (*shape)[1].get<int64_t>();
  if (p->batch < 1 || p->batch > kMaxBatch || p->width < 0 || p->width > int64_t(kMaxBody / 4)) {
    return "INPUT0 must be FP32 of shape [batch 1..8, n]";
  }
  const size_t want = size_t(p->batch) * size_t(p->width) * 4;

  const json* params = nullptr;
  if (auto it = in.find("parameters"); it != in.end() && it->is_object()) params = &*it;
  if (params && params->contains("binary_data_size")) {
    const json& size = (*params)["binary_data_size"];
    if (header_len < 0) return "INPUT0 has binary_data_size but the request has no Inference-Header-Content-Length";
    if (!size.is_number_unsigned() || size.get<uint64_t>() != want) {
      return "INPUT0's binary_data_size must be 4 x batch x n = " + std::to_string(want);
    }
    if (len - json_len != want) {
      return "the body has " + std::to_string(len - json_len) + " bytes of binary tensors, INPUT0 needs " + std::to_string(want);
    }
    p->data.assign(body + json_len, want);
  } else {
    auto data = in.find("data");
    if (data == in.end() || !data->is_array()) return "INPUT0 has neither \"data\" nor binary_data_size";
    json flat = json::array();
    for (const json& v : *data) {  // [[..],[..]] or flat
      if (v.is_array()) {
        for (const json& x : v) flat.push_back(x);
      } else {
        flat.push_back(v);
      }
    }
    if (flat.size() * 4 != want) return "INPUT0's data has " + std::to_string(flat.size()) + " values, its shape needs " + std::to_string(want / 4);
    p->data.resize(want);
    for (size_t i = 0; i < flat.size(); i++) {
      if (!flat[i].is_number()) return "INPUT0's data holds a value that is not a number";
      float f = flat[i].get<float>();
      std::memcpy(&p->data[i * 4], &f, 4);
    }
  }

  // binary_data_output is the default for every output; an output's own
  // binary_data wins.
  bool binary_default = false;
  if (auto it = r.find("parameters"); it != r.end() && it->is_object()) {
    binary_default = it->value("binary_data_output", false);
  }
  p->binary_out = binary_default;
  if (auto outs = r.find("outputs"); outs != r.end()) {
    if (!outs->is_array()) return "\"outputs\" must be an array";
    for (const json& o : *outs) {
      if (!o.is_object() || o.value("name", "") != "OUTPUT0") return "identity has only one output, OUTPUT0";
      p->binary_out = binary_default;
      if (auto op = o.find("parameters"); op != o.end() && op->is_object()) p->binary_out = op->value("binary_data", binary_default);
    }
  }
  return "";
}

// Server is one model's state, shared by the threads.
class Server {
 public:
  void Handle(evhttp_request* req) {
    const char* path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    std::string_view p = path ? path : "";
    evhttp_cmd_type method = evhttp_request_get_command(req);
    bool get = method == EVHTTP_REQ_GET;

    if (p == "/v2" || p == "/v2/") return get ? Reply(req, 200, kServerMetadata) : MethodNotAllowed(req, "GET");
    if (p == "/v2/health/live" || p == "/v2/health/ready") return get ? Reply(req, 200, "") : MethodNotAllowed(req, "GET");
    if (p == "/v2/models/stats") return get ? Reply(req, 200, StatsJSON(stats_)) : MethodNotAllowed(req, "GET");

    constexpr std::string_view kModels = "/v2/models/";
    if (p.substr(0, kModels.size()) != kModels) {
      return ReplyError(req, 404, "no such path: " + std::string(p) + "; this server serves /v2 and /v2/models/identity/...");
    }
    p.remove_prefix(kModels.size());
    std::string_view name = p.substr(0, p.find('/'));
    p.remove_prefix(name.size());
    std::string_view version;
    if (p.substr(0, 10) == "/versions/") {
      p.remove_prefix(10);
      version = p.substr(0, p.find('/'));
      p.remove_prefix(version.size());
    }
    if (name != kModel) {
      return ReplyError(req, 404, "unknown model \"" + std::string(name) + "\"; this server has only \"identity\"");
    }
    if (!version.empty() && version != kVersion) {
      return ReplyError(req, 404, "model \"identity\" has no version \"" + std::string(version) + "\"; its only version is \"1\"");
    }
    if (p == "/infer") return method == EVHTTP_REQ_POST ? Infer(req) : MethodNotAllowed(req, "POST");
    if (!get) return MethodNotAllowed(req, "GET");
    if (p.empty() || p == "/") return Reply(req, 200, kModelMetadata);
    if (p == "/ready") return Reply(req, 200, "");
    if (p == "/config") return Reply(req, 200, kModelConfig);
    if (p == "/stats") return Reply(req, 200, StatsJSON(stats_));
    ReplyError(req, 404, "no such path for model identity: " + std::string(p));
  }

 private:
  static void MethodNotAllowed(evhttp_request* req, const char* allowed) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allowed);
    ReplyError(req, 405, std::string("this path takes ") + allowed);
  }

  void Infer(evhttp_request* req) {
    Clock::time_point start = Clock::now();
    evbuffer* in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char* body = reinterpret_cast<const char*>(evbuffer_pullup(in, -1));
    long header_len = -1;
    if (const char* h = evhttp_find_header(evhttp_request_get_input_headers(req), "Inference-Header-Content-Length")) {
      char* end = nullptr;
      header_len = std::strtol(h, &end, 10);
      if (*h == '\0' || *end != '\0' || header_len < 0 || static_cast<size_t>(header_len) > len) {
        return Fail(req, start, "Inference-Header-Content-Length must be a whole number no larger than the body (" + std::to_string(len) + " bytes)");
      }
    }
    ParsedInfer p;
    std::string problem;
    try {
      problem = ParseInfer(body ? body : "", len, header_len, &p);
    } catch (const json::exception& e) {  // a field of the wrong JSON type
      problem = std::string("the request's JSON header has a field of the wrong type: ") + e.what();
    }
    if (!problem.empty()) return Fail(req, start, problem);

    std::string head = R"({"model_name":"identity","model_version":"1",)";
    if (!p.id.empty()) head += R"("id":)" + p.id + ",";
    head += R"("outputs":[{"name":"OUTPUT0","datatype":"FP32","shape":[)" + std::to_string(p.batch) + "," + std::to_string(p.width) + "],";
    evkeyvalq* headers = evhttp_request_get_output_headers(req);
    evbuffer* out = evhttp_request_get_output_buffer(req);
    if (p.binary_out) {
      head += R"("parameters":{"binary_data_size":)" + std::to_string(p.data.size()) + "}}]}";
      evhttp_add_header(headers, "Content-Type", "application/octet-stream");
      evhttp_add_header(headers, "Inference-Header-Content-Length", std::to_string(head.size()).c_str());
      evbuffer_add(out, head.data(), head.size());
      evbuffer_add(out, p.data.data(), p.data.size());
    } else {
      json data = json::array();
      for (size_t i = 0; i < p.data.size(); i += 4) {
        float f;
        std::memcpy(&f, &p.data[i], 4);
        data.push_back(f);
      }
      head += R"("data":)" + data.dump() + "}]}";
      evhttp_add_header(headers, "Content-Type", "application/json");
      evbuffer_add(out, head.data(), head.size());
    }
    evhttp_send_reply(req, 200, nullptr, nullptr);

    uint64_t ns = std::chrono::nanoseconds(Clock::now() - start).count();
    stats_.executions.fetch_add(1, std::memory_order_relaxed);
    stats_.inferences.fetch_add(p.batch, std::memory_order_relaxed);
    stats_.success_ns.fetch_add(ns, std::memory_order_relaxed);
    stats_.success.fetch_add(1, std::memory_order_relaxed);
    stats_.last_inference_ms.store(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count(),
        std::memory_order_relaxed);
  }

  void Fail(evhttp_request* req, Clock::time_point start, const std::string& msg) {
    stats_.fail.fetch_add(1, std::memory_order_relaxed);
    stats_.fail_ns.fetch_add(std::chrono::nanoseconds(Clock::now() - start).count(), std::memory_order_relaxed);
    ReplyError(req, 400, msg);
  }

  Stats stats_;
};

// Listen opens a listening socket on 127.0.0.1:port with SO_REUSEPORT (so
// that every thread can have its own) and TCP_NODELAY, which accepted
// sockets inherit on Linux: a reply must not wait for the client's ACK.
int Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(fd, 1024) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Loop is one thread's event loop, its evhttp and its listener. It ends
// when stop_fd becomes readable (the main thread closes the other end).
class Loop {
 public:
  Loop(Server* server, int listen_fd, int stop_fd) : base_(event_base_new()) {
    http_ = evhttp_new(base_);
    evhttp_set_max_body_size(http_, kMaxBody);
    evhttp_set_gencb(http_, [](evhttp_request* req, void* s) { static_cast<Server*>(s)->Handle(req); }, server);
    listener_ = evconnlistener_new(base_, nullptr, nullptr, LEV_OPT_CLOSE_ON_FREE, 0, listen_fd);
    evhttp_bind_listener(http_, listener_);
    stop_ = event_new(base_, stop_fd, EV_READ, [](evutil_socket_t, short, void* b) { event_base_loopbreak(static_cast<event_base*>(b)); }, base_);
    event_add(stop_, nullptr);
  }
  ~Loop() {
    event_free(stop_);
    evhttp_free(http_);  // frees the bound listener too
    event_base_free(base_);
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  void Run() { event_base_dispatch(base_); }

 private:
  event_base* base_;
  evhttp* http_;
  evconnlistener* listener_;
  event* stop_;
};

long Number(const char* s, long lo, long hi) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return (*s != '\0' && *end == '\0' && v >= lo && v <= hi) ? v : -1;
}

}  // namespace

int main(int argc, char** argv) {
  long port = argc >= 2 && argc <= 3 ? Number(argv[1], 0, 65535) : -1;
  long threads = argc == 3 ? Number(argv[2], 1, 256) : 2;
  if (port < 0 || threads < 1) {
    std::fprintf(stderr, "usage: %s PORT [THREADS] (PORT 0 picks a free one; THREADS 1..256, default 2); it listens on 127.0.0.1 only\n", argv[0]);
    return 2;
  }

  signal(SIGPIPE, SIG_IGN);  // a client that hangs up is that connection's error, not the server's end
  int sigfd = BlockStopSignals();  // before the loops' threads start
  if (sigfd < 0) {
    std::perror("http_server: signalfd");
    return 1;
  }

  // The first socket picks the port (when 0); the others join it.
  std::vector<int> fds;
  for (long i = 0; i < threads; i++) {
    int fd = Listen(static_cast<int>(port));
    if (fd < 0) {
      std::fprintf(stderr, "http_server: cannot listen on 127.0.0.1:%ld: %s; pick a free port or 0\n", port, std::strerror(errno));
      return 1;
    }
    if (i == 0) {
      sockaddr_in bound{};
      socklen_t n = sizeof bound;
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &n);
      port = ntohs(bound.sin_port);
    }
    fds.push_back(fd);
  }
  int stop_pipe[2];
  if (pipe2(stop_pipe, O_CLOEXEC) < 0) {
    std::perror("http_server: pipe");
    return 1;
  }

  Server server;
  std::vector<std::unique_ptr<Loop>> loops;
  for (int fd : fds) loops.push_back(std::make_unique<Loop>(&server, fd, stop_pipe[0]));
  std::vector<std::thread> running;
  for (auto& l : loops) running.emplace_back([l = l.get()] { l->Run(); });
  std::printf("perfgo-cpp (%ld threads): HTTP on 127.0.0.1:%ld\n", threads, port);
  std::fflush(stdout);

  WaitForStop(sigfd);
  close(stop_pipe[1]);  // EOF wakes every loop
  for (std::thread& t : running) t.join();
  loops.clear();
  close(stop_pipe[0]);
  close(sigfd);
  return 0;
}
