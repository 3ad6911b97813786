// server.cc: a C++ KServe v2 gRPC server with one model, "identity", for
// measuring perfgo against the kind of server users run (Triton is C++ on
// gRPC's C core) rather than only against `perfgo serve`.
//
//   server PORT      (0 picks a free port; it prints "gRPC on 127.0.0.1:NNNN")
//
// "identity" has perfgo serve's shape and config (pkg/server/models.go):
// FP32 INPUT0 [-1] -> OUTPUT0 [-1], max_batch_size 8, so its metadata shape
// is [-1,-1]. It stops on SIGINT/SIGTERM and when stdin reaches EOF, so a
// script that dies still takes the server with it.
//
// It uses gRPC's synchronous API. Measured here (2 cores, FP32 [1,16], the C++
// loop, 3 rounds of 3 s each, medians): at concurrency 1 it served 16.1k
// req/s against the callback API's 12.7k, at concurrency 8 14.9k against
// 16.4k (other runs on this noisy machine moved either by up to 30%, the
// order at concurrency 1 held in every round). Concurrency 1 is where a
// server's cost shows most in client latency, so the synchronous API it is;
// the cause of the difference inside gRPC was not measured.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "grpc_service.grpc.pb.h"
#include "stop.h"

namespace {

constexpr char kModel[] = "identity";
constexpr char kVersion[] = "1";
constexpr char kPlatform[] = "perfgo-cpp";
constexpr char kInput[] = "INPUT0";
constexpr char kOutput[] = "OUTPUT0";

using Clock = std::chrono::steady_clock;

// Stats are cumulative, as Triton's: clients difference two snapshots.
struct Stats {
  std::atomic<uint64_t> inferences{0};  // batch elements
  std::atomic<uint64_t> executions{0};
  std::atomic<uint64_t> success{0};
  std::atomic<uint64_t> success_ns{0};
  std::atomic<uint64_t> last_inference_ms{0};
};

// Model holds the one model's fixed descriptions and its counters; every
// handler is a const lookup or an atomic add, so it needs no lock.
class Model {
 public:
  Model() {
    metadata_.set_name(kModel);
    metadata_.add_versions(kVersion);
    metadata_.set_platform(kPlatform);
    auto* in = metadata_.add_inputs();
    in->set_name(kInput);
    in->set_datatype("FP32");
    in->add_shape(-1);  // the batch dimension
    in->add_shape(-1);
    auto* out = metadata_.add_outputs();
    *out = *in;
    out->set_name(kOutput);

    config_.set_name(kModel);
    config_.set_platform(kPlatform);
    config_.set_backend(kPlatform);
    config_.mutable_version_policy()->mutable_latest()->set_num_versions(1);
    config_.set_max_batch_size(8);
    auto* cin = config_.add_input();
    cin->set_name(kInput);
    cin->set_data_type(inference::TYPE_FP32);
    cin->add_dims(-1);
    auto* cout = config_.add_output();
    cout->set_name(kOutput);
    cout->set_data_type(inference::TYPE_FP32);
    cout->add_dims(-1);
  }

  // Find reports NOT_FOUND for any model or version but identity/1.
  static grpc::Status Find(const std::string& name, const std::string& version) {
    if (name != kModel) {
      return {grpc::StatusCode::NOT_FOUND, "unknown model \"" + name + "\"; this server has only \"identity\""};
    }
    if (!version.empty() && version != kVersion) {
      return {grpc::StatusCode::NOT_FOUND, "model \"identity\" has no version \"" + version + "\"; its only version is \"1\""};
    }
    return grpc::Status::OK;
  }

  grpc::Status Metadata(const inference::ModelMetadataRequest& req, inference::ModelMetadataResponse* resp) const {
    grpc::Status s = Find(req.name(), req.version());
    if (s.ok()) *resp = metadata_;
    return s;
  }

  grpc::Status Config(const inference::ModelConfigRequest& req, inference::ModelConfigResponse* resp) const {
    grpc::Status s = Find(req.name(), req.version());
    if (s.ok()) *resp->mutable_config() = config_;
    return s;
  }

  // Infer echoes the first raw input as OUTPUT0 with the input's shape.
  grpc::Status Infer(const inference::ModelInferRequest& req, inference::ModelInferResponse* resp) {
    Clock::time_point start = Clock::now();
    grpc::Status s = Find(req.model_name(), req.model_version());
    if (!s.ok()) return s;
    if (req.inputs_size() != 1 || req.inputs(0).name() != kInput || req.raw_input_contents_size() != 1) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "identity takes one input, INPUT0, in raw_input_contents"};
    }
    const auto& in = req.inputs(0);
    if (in.datatype() != "FP32" || in.shape_size() != 2 || in.shape(0) < 1 || in.shape(0) > 8) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "INPUT0 must be FP32 of shape [batch 1..8, n]"};
    }
    for (const auto& o : req.outputs()) {
      if (o.name() != kOutput) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "unknown output \"" + o.name() + "\"; identity has only OUTPUT0"};
      }
    }
    resp->set_model_name(kModel);
    resp->set_model_version(kVersion);
    resp->set_id(req.id());
    auto* out = resp->add_outputs();
    out->set_name(kOutput);
    out->set_datatype("FP32");
    *out->mutable_shape() = in.shape();
    resp->add_raw_output_contents(req.raw_input_contents(0));

    Clock::time_point end = Clock::now();
    stats_.executions.fetch_add(1, std::memory_order_relaxed);
    stats_.inferences.fetch_add(in.shape(0), std::memory_order_relaxed);
    stats_.success_ns.fetch_add(std::chrono::nanoseconds(end - start).count(), std::memory_order_relaxed);
    stats_.success.fetch_add(1, std::memory_order_relaxed);
    stats_.last_inference_ms.store(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count(),
        std::memory_order_relaxed);
    return grpc::Status::OK;
  }

  // Statistics answers for identity, or for all models (just identity)
  // when no name is given, as Triton does.
  grpc::Status Statistics(const inference::ModelStatisticsRequest& req, inference::ModelStatisticsResponse* resp) const {
    if (!req.name().empty()) {
      grpc::Status s = Find(req.name(), req.version());
      if (!s.ok()) return s;
    }
    auto* m = resp->add_model_stats();
    m->set_name(kModel);
    m->set_version(kVersion);
    m->set_last_inference(stats_.last_inference_ms.load(std::memory_order_relaxed));
    m->set_execution_count(stats_.executions.load(std::memory_order_relaxed));
    m->set_inference_count(stats_.inferences.load(std::memory_order_relaxed));
    uint64_t n = stats_.success.load(std::memory_order_relaxed);
    uint64_t ns = stats_.success_ns.load(std::memory_order_relaxed);
    auto* is = m->mutable_inference_stats();
    is->mutable_success()->set_count(n);
    is->mutable_success()->set_ns(ns);
    // No queue: every request runs on arrival, so the queue counts it with
    // no time, and all its time is compute.
    is->mutable_queue()->set_count(n);
    is->mutable_compute_infer()->set_count(n);
    is->mutable_compute_infer()->set_ns(ns);
    return grpc::Status::OK;
  }

 private:
  inference::ModelMetadataResponse metadata_;
  inference::ModelConfig config_;
  Stats stats_;
};

// Service adapts Model to the synchronous API.
class Service final : public inference::GRPCInferenceService::Service {
 public:
  explicit Service(Model* model) : model_(model) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* resp) override {
    resp->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* resp) override {
    resp->set_ready(true);
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* req,
                          inference::ModelReadyResponse* resp) override {
    grpc::Status s = Model::Find(req->name(), req->version());
    resp->set_ready(s.ok());
    return s;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* resp) override {
    resp->set_name("perfgo-cpp");
    resp->set_version("0.1.0");
    resp->add_extensions("statistics");
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* req,
                             inference::ModelMetadataResponse* resp) override {
    return model_->Metadata(*req, resp);
  }
  grpc::Status ModelConfig(grpc::ServerContext*, const inference::ModelConfigRequest* req,
                           inference::ModelConfigResponse* resp) override {
    return model_->Config(*req, resp);
  }
  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* resp) override {
    return model_->Infer(*req, resp);
  }
  grpc::Status ModelStatistics(grpc::ServerContext*, const inference::ModelStatisticsRequest* req,
                               inference::ModelStatisticsResponse* resp) override {
    return model_->Statistics(*req, resp);
  }

 private:
  Model* model_;
};

}  // namespace

int main(int argc, char** argv) {
  char* end = nullptr;
  long port = argc == 2 ? std::strtol(argv[1], &end, 10) : -1;
  if (argc != 2 || *end != '\0' || port < 0 || port > 65535) {
    std::fprintf(stderr, "usage: %s PORT (0 picks a free port); it listens on 127.0.0.1 only\n", argv[0]);
    return 2;
  }

  int sigfd = BlockStopSignals();  // before gRPC starts its threads
  if (sigfd < 0) {
    std::perror("server: signalfd");
    return 1;
  }

  Model model;
  Service service(&model);
  int bound = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    std::fprintf(stderr, "server: cannot listen on 127.0.0.1:%ld; pick a free port or 0\n", port);
    return 1;
  }
  std::printf("perfgo-cpp: gRPC on 127.0.0.1:%d\n", bound);
  std::fflush(stdout);

  WaitForStop(sigfd);
  // Requests in flight get a moment to finish; later ones are cancelled.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  close(sigfd);
  return 0;
}
