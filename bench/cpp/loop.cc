// loop.cc: the C++ ceiling for perfgo's gRPC client. THREADS threads each
// send the same pre-built ModelInferRequest (identity, FP32 [1,16]) in a
// closed loop for SECONDS, through gRPC's synchronous C++ API, as Triton's
// C++ client does; one channel (one connection) per 6 threads, Triton's and
// perfgo's pool sizing.
//
//   loop HOST:PORT THREADS SECONDS
//   loop HOST:PORT served
//
// It prints "requests N seconds S throughput X avg_latency_us Y". Any failed
// request makes the exit status 1: a ceiling measured on errors is no ceiling.
// "served" prints how many identity requests the server has answered
// successfully (its statistics), for bench/cpp.sh's CPU per request.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "grpc_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using Stub = inference::GRPCInferenceService::Stub;

constexpr int kThreadsPerChannel = 6;

// Tally is one thread's counts, padded so that threads never share a cache line.
struct alignas(64) Tally {
  uint64_t done = 0;
  uint64_t failed = 0;
  uint64_t latency_ns = 0;
  std::string first_error;
};

inference::ModelInferRequest Request() {
  inference::ModelInferRequest req;
  req.set_model_name("identity");
  auto* in = req.add_inputs();
  in->set_name("INPUT0");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(16);
  req.add_outputs()->set_name("OUTPUT0");
  std::string raw(16 * sizeof(float), '\0');
  for (int i = 0; i < 16; i++) {
    float v = static_cast<float>(i);
    std::memcpy(&raw[i * sizeof(float)], &v, sizeof v);
  }
  req.add_raw_input_contents(std::move(raw));
  return req;
}

// Call sends one request; the context cannot be reused, the response can.
grpc::Status Call(Stub* stub, const inference::ModelInferRequest& req, inference::ModelInferResponse* resp) {
  grpc::ClientContext ctx;
  return stub->ModelInfer(&ctx, req, resp);
}

// Served prints identity's successful request count from the server's statistics.
int Served(const std::string& addr) {
  auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  inference::ModelStatisticsRequest req;
  req.set_name("identity");
  inference::ModelStatisticsResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status s = stub->ModelStatistics(&ctx, req, &resp);
  if (!s.ok() || resp.model_stats_size() != 1) {
    std::fprintf(stderr, "loop: statistics of identity from %s: %s; is the server up?\n", addr.c_str(),
                 s.ok() ? "no model_stats in the answer" : s.error_message().c_str());
    return 1;
  }
  std::printf("%llu\n", static_cast<unsigned long long>(resp.model_stats(0).inference_stats().success().count()));
  return 0;
}

long Positive(const char* s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return (*end == '\0' && v > 0) ? v : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[2], "served") == 0) return Served(argv[1]);
  long threads = argc == 4 ? Positive(argv[2]) : -1;
  long seconds = argc == 4 ? Positive(argv[3]) : -1;
  if (threads < 1 || seconds < 1) {
    std::fprintf(stderr, "usage: %s HOST:PORT THREADS SECONDS (whole numbers above 0), or %s HOST:PORT served\n", argv[0], argv[0]);
    return 2;
  }
  const std::string addr = argv[1];
  const inference::ModelInferRequest req = Request();

  // Channels with the same arguments share one connection unless each has
  // its own subchannel pool.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<Stub>> stubs;
  for (long i = 0; i < threads; i++) {
    if (i % kThreadsPerChannel == 0) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      channels.push_back(grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args));
    }
    stubs.push_back(inference::GRPCInferenceService::NewStub(channels.back()));
    // Connect outside the timed loop, as perfgo's workers are warm after
    // their first request too.
    inference::ModelInferResponse resp;
    grpc::Status s = Call(stubs.back().get(), req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "loop: first request to %s: %s; is the server up and serving identity?\n", addr.c_str(),
                   s.error_message().c_str());
      return 1;
    }
  }

  std::atomic<bool> stop{false};
  std::vector<Tally> tallies(threads);
  std::vector<std::thread> workers;
  Clock::time_point start = Clock::now();
  for (long i = 0; i < threads; i++) {
    workers.emplace_back([&, i] {
      Tally& t = tallies[i];
      Stub* stub = stubs[i].get();
      inference::ModelInferResponse resp;
      while (!stop.load(std::memory_order_relaxed)) {
        Clock::time_point t0 = Clock::now();
        grpc::Status s = Call(stub, req, &resp);
        Clock::time_point t1 = Clock::now();
        if (!s.ok()) {
          if (t.failed++ == 0) t.first_error = s.error_message();
          continue;
        }
        t.done++;
        t.latency_ns += std::chrono::nanoseconds(t1 - t0).count();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop.store(true);
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  uint64_t done = 0, failed = 0, latency_ns = 0;
  std::string first_error;
  for (const Tally& t : tallies) {
    done += t.done;
    failed += t.failed;
    latency_ns += t.latency_ns;
    if (first_error.empty()) first_error = t.first_error;
  }
  std::printf("requests %llu seconds %.3f throughput %.1f avg_latency_us %.1f\n", static_cast<unsigned long long>(done),
              elapsed, done / elapsed, done ? latency_ns / 1e3 / done : 0.0);
  if (failed > 0) {
    std::fprintf(stderr, "loop: %llu of %llu requests failed, the first: %s\n", static_cast<unsigned long long>(failed),
                 static_cast<unsigned long long>(done + failed), first_error.c_str());
    return 1;
  }
  return 0;
}
