// vigilctl alarms watch: the live alarm stream, resumable from a cursor file,
// reconnecting with backoff. Two threads: main reads the stream, prints and
// saves the cursor; StreamGuard's thread takes SIGINT/SIGTERM and cancels the
// call (also when it has been silent too long).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "alarm/time_text.h"
#include "server/ctl/alarms_commands.h"
#include "vigil/v1/alarms.grpc.pb.h"

namespace vigil::ctl {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kWatchHelp[] =
    R"(usage: vigilctl alarms watch [FILTERS] [--cursor-file FILE [--resync]] [--once] [--json]

The live stream of the alarms the token may see: the open alarms first (a
snapshot), then one line per event as it happens. Runs until Ctrl-C or SIGTERM
(then exits 0). Text lines: local time, #seq, event, severity, state, alarm id,
alarm kind, sensor or gateway, enterprise, region, level, value, threshold,
and who / comment for operator actions.
  --json               one JSON object per line: the snapshot, then events
  --cursor-file FILE   resumable: after each event or heartbeat, FILE holds the
                       highest seq received (written to FILE.tmp, then renamed).
                       When FILE exists the stream resumes after its seq: no
                       snapshot, every event since, none twice. FILE is updated
                       after the event is printed: after a crash (kill -9) the
                       last event may print again, none is skipped.
  --resync             when the cursor is older than the server's journal keeps
                       (OUT_OF_RANGE), start again from a snapshot of the open
                       alarms instead of exiting 5 (events in between are lost)
  --once               exit (1) when the stream breaks instead of reconnecting
  --idle-timeout D     reconnect when nothing, not even a heartbeat, came for D
                       (default 60s; the server sends one every few seconds)
When the stream breaks (server restart, network), vigilctl reconnects with
backoff (0.5 s doubling to 15 s, notices on stderr) and resumes after the last
seq it printed: no event missed, none printed twice.
)";

constexpr milliseconds kFirstBackoff{500};
constexpr milliseconds kMaxBackoff{15'000};

// Takes SIGINT and SIGTERM for the whole process (construct it before any
// other thread starts, so that every thread inherits the blocked mask), and
// cancels the current call on a signal or when it has been idle too long.
// SetCall/Touch/stopped/TakeIdle/Sleep are called by the main thread.
class StreamGuard {
 public:
  explicit StreamGuard(milliseconds idle_timeout) : idle_timeout_(idle_timeout) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this] { Run(); });
  }
  ~StreamGuard() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    thread_.join();
  }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

  // The call to cancel from now on (nullptr: none). `*context` must stay
  // alive until SetCall(nullptr).
  void SetCall(grpc::ClientContext* context) {
    std::lock_guard<std::mutex> lock(mu_);
    call_ = context;
    if (call_ == nullptr) return;
    last_message_ = Clock::now();
    idle_ = false;
    if (stopped_) call_->TryCancel();
  }
  // A message arrived on the current call.
  void Touch() {
    std::lock_guard<std::mutex> lock(mu_);
    last_message_ = Clock::now();
  }
  bool stopped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }
  // True when the last call was cancelled for being idle (until the next SetCall).
  bool idle() const {
    std::lock_guard<std::mutex> lock(mu_);
    return idle_;
  }
  // Waits `delay`, or less when a signal comes.
  void Sleep(milliseconds delay) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, delay, [this] { return stopped_; });
  }

 private:
  void Run() {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (quit_) return;
      }
      const timespec poll{.tv_sec = 0, .tv_nsec = 200'000'000};
      const int sig = sigtimedwait(&signals_, nullptr, &poll);
      std::lock_guard<std::mutex> lock(mu_);
      if (sig == SIGINT || sig == SIGTERM) {
        stopped_ = true;
        if (call_ != nullptr) call_->TryCancel();
        cv_.notify_all();
      } else if (call_ != nullptr && !idle_ && Clock::now() - last_message_ > idle_timeout_) {
        idle_ = true;
        call_->TryCancel();
      }
    }
  }

  const milliseconds idle_timeout_;
  sigset_t signals_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* call_ = nullptr;  // GUARDED_BY(mu_)
  Clock::time_point last_message_;       // GUARDED_BY(mu_)
  bool stopped_ = false;                 // GUARDED_BY(mu_)
  bool idle_ = false;                    // GUARDED_BY(mu_)
  bool quit_ = false;                    // GUARDED_BY(mu_)
  std::thread thread_;
};

// The seq to resume after, kept in a file ("<seq>\n"). No file: no cursor.
class CursorFile {
 public:
  explicit CursorFile(std::string path) : path_(std::move(path)) {}

  // Sets *seq from the file (nullopt when there is none); an error message
  // when it cannot be read or does not hold a seq.
  std::optional<std::string> Load(std::optional<uint64_t>* seq) const {
    *seq = std::nullopt;
    if (path_.empty()) return std::nullopt;
    std::error_code exists_error;
    if (!std::filesystem::exists(path_, exists_error) && !exists_error) return std::nullopt;
    std::ifstream in(path_, std::ios::binary);
    if (exists_error || !in) return "cannot read cursor file " + path_;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string_view digits(text);
    while (!digits.empty() && (digits.back() == '\n' || digits.back() == '\r')) {
      digits.remove_suffix(1);
    }
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return "cursor file " + path_ + " does not hold a seq number; delete it to start over " +
             "from a snapshot";
    }
    *seq = value;
    return std::nullopt;
  }

  // Replaces the file's content with `seq` (FILE.tmp, then rename). Nothing
  // without a path, or when it already holds `seq`.
  std::optional<std::string> Save(uint64_t seq) {
    if (path_.empty() || saved_ == seq) return std::nullopt;
    const std::string temp = path_ + ".tmp";
    const std::string text = std::to_string(seq) + "\n";
    const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return "cannot write " + temp + ": " + std::strerror(errno);
    const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const int write_errno = errno;
    if (close(fd) != 0 || !written) {
      return "cannot write " + temp + ": " + std::strerror(written ? errno : write_errno);
    }
    if (std::rename(temp.c_str(), path_.c_str()) != 0) {
      return "cannot rename " + temp + " to " + path_ + ": " + std::strerror(errno);
    }
    saved_ = seq;
    return std::nullopt;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::optional<uint64_t> saved_;
};

// Worth reconnecting after: the server or the network, not the request.
bool Transient(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:  // the server ended the stream
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE:
      return true;
    default:
      return false;
  }
}

std::string Seconds(milliseconds d) {
  std::ostringstream out;
  out.precision(2);
  out << std::fixed << static_cast<double>(d.count()) / 1000 << "s";
  return out.str();
}

struct WatchOptions {
  v1::AlarmFilter filter;
  bool json = false;
  bool once = false;
  bool resync = false;
  milliseconds idle_timeout{60'000};
};

// What one stream ended with.
struct StreamEnd {
  grpc::Status status;
  bool received = false;         // at least one message came
  std::optional<int> exit_code;  // a local failure: exit with this
};

class Watcher {
 public:
  Watcher(Client& client, WatchOptions options, CursorFile cursor_file,
          std::optional<uint64_t> cursor)
      : client_(client),
        options_(std::move(options)),
        cursor_file_(std::move(cursor_file)),
        cursor_(cursor),
        style_(StdoutStyle()) {}

  int Run() {
    // Before the channel exists: gRPC's threads must inherit the blocked signals.
    StreamGuard guard(options_.idle_timeout);
    auto stub = v1::Alarms::NewStub(client_.channel());
    std::minstd_rand random(std::random_device{}());
    milliseconds backoff = kFirstBackoff;
    while (!guard.stopped()) {
      const StreamEnd end = Stream(*stub, guard);
      if (end.exit_code) return *end.exit_code;
      if (guard.stopped()) break;
      const grpc::Status& status = end.status;
      const bool idle = guard.idle();
      if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
        if (!options_.resync || !cursor_) return CursorExpired(status);
        std::cerr << "vigilctl: alarms watch: seq " << cursor_.value_or(0)
                  << " is not in the server's journal (" << status.error_message()
                  << "); --resync: starting again from a snapshot of the open alarms; events "
                     "in between are not shown\n";
        cursor_.reset();
        continue;
      }
      if (!idle && !Transient(status.error_code())) return RpcFailed("alarms watch", status);
      const std::string why = idle ? "nothing received for " + Seconds(options_.idle_timeout)
                              : status.ok() ? std::string("the server ended the stream")
                                            : std::string(StatusCodeName(status.error_code())) +
                                                  ": " + status.error_message();
      if (options_.once) {
        std::cerr << "vigilctl: alarms watch: the stream broke (" << why << "); --once: exiting\n";
        return idle || status.ok() ? kExitFailed : ExitCodeFor(status.error_code());
      }
      if (end.received) backoff = kFirstBackoff;
      std::uniform_real_distribution<double> jitter(0.8, 1.2);
      const milliseconds delay(
          static_cast<int64_t>(static_cast<double>(backoff.count()) * jitter(random)));
      std::cerr << "vigilctl: alarms watch: the stream broke (" << why << "); reconnecting in "
                << Seconds(delay);
      if (cursor_) std::cerr << " to resume after seq " << *cursor_;
      std::cerr << "\n";
      guard.Sleep(delay);
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    std::cout.flush();
    return kExitOk;
  }

 private:
  // One Subscribe call, read to its end.
  StreamEnd Stream(v1::Alarms::Stub& stub, StreamGuard& guard) {
    grpc::ClientContext context;
    client_.Prepare(&context, std::chrono::seconds(0));
    v1::SubscribeRequest request;
    *request.mutable_filter() = options_.filter;
    if (cursor_) request.set_after_seq(*cursor_);
    guard.SetCall(&context);
    std::unique_ptr<grpc::ClientReader<v1::AlarmStreamMessage>> reader =
        stub.Subscribe(&context, request);
    StreamEnd end;
    v1::AlarmSnapshot snapshot;  // the parts so far
    v1::AlarmStreamMessage message;
    while (reader->Read(&message)) {
      guard.Touch();
      end.received = true;
      if (message.has_snapshot()) {
        snapshot.mutable_alarms()->MergeFrom(message.snapshot().alarms());
        if (!message.snapshot().last()) continue;
        PrintOpenAlarms(message.snapshot().seq(), snapshot.alarms(), options_.json, style_);
        snapshot.Clear();
        // Not max(): after a resync the journal may be a newer, shorter one.
        cursor_ = message.snapshot().seq();
      } else if (message.has_event()) {
        const v1::AlarmEvent& event = message.event();
        if (cursor_ && event.seq() <= *cursor_) continue;  // printed already
        std::cout << (options_.json ? EventJson(event) : EventText(event, style_)) << "\n";
        cursor_ = event.seq();
      } else if (message.has_heartbeat()) {
        if (!cursor_ || message.heartbeat().seq() <= *cursor_) continue;
        cursor_ = message.heartbeat().seq();
      } else {
        continue;
      }
      std::cout.flush();
      std::optional<std::string> error;
      if (!std::cout) error = "cannot write to standard output";
      if (!error) error = cursor_file_.Save(*cursor_);
      if (error) {
        std::cerr << "vigilctl: alarms watch: " << *error << "\n";
        end.exit_code = kExitFailed;
        context.TryCancel();
        break;
      }
    }
    end.status = reader->Finish();
    guard.SetCall(nullptr);
    return end;
  }

  int CursorExpired(const grpc::Status& status) {
    std::cerr << "vigilctl: alarms watch: cannot resume after seq " << cursor_.value_or(0)
              << ": the server's journal no longer has it (OUT_OF_RANGE: " << status.error_message()
              << "). Events after it may never be shown to this watcher. Run again with "
                 "--resync to start over from a snapshot of the open alarms";
    if (!cursor_file_.path().empty()) std::cerr << " (or delete " << cursor_file_.path() << ")";
    std::cerr << ".\n";
    return kExitCursorExpired;
  }

  Client& client_;
  const WatchOptions options_;
  CursorFile cursor_file_;
  std::optional<uint64_t> cursor_;  // the highest seq printed or vouched for
  const TextStyle style_;
};

int Watch(Client& client, const Args& args) {
  auto usage = [](const std::string& error) {
    return UsageError("alarms watch", kWatchHelp, error);
  };
  WatchOptions options;
  if (auto error = FilterFromArgs(args, &options.filter)) return usage(*error);
  options.json = args.Has("json");
  options.once = args.Has("once");
  options.resync = args.Has("resync");
  if (args.Has("idle-timeout")) {
    const auto idle = alarm::ParseDuration(*args.Get("idle-timeout"), std::chrono::seconds(1),
                                           std::chrono::milliseconds::max());
    if (!idle) return usage("--idle-timeout: " + idle.error().message());
    options.idle_timeout = *idle;
  }
  if (args.Has("cursor-file") && args.Get("cursor-file")->empty()) {
    return usage("--cursor-file needs a file name");
  }
  CursorFile cursor_file(args.Get("cursor-file").value_or(""));
  std::optional<uint64_t> cursor;
  if (auto error = cursor_file.Load(&cursor)) return usage(*error);
  if (cursor) {
    std::cerr << "vigilctl: alarms watch: resuming after seq " << *cursor << " ("
              << cursor_file.path() << ")\n";
  }
  return Watcher(client, std::move(options), std::move(cursor_file), cursor).Run();
}

}  // namespace

Command WatchCommand() {
  return {.path = "alarms watch",
          .help = CommandHelp(kWatchHelp, true, true),
          .options = FilterOptions(
              {{"json"}, {"cursor-file", true}, {"resync"}, {"once"}, {"idle-timeout", true}}),
          .run = Watch};
}

}  // namespace vigil::ctl
