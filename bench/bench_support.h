// What sonar-bench needs besides the measurements: child processes, /proc readings, database
// URLs, latency statistics and a small JSON writer.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace sonar::bench {

// A program run as a child (its own process group member, stdout+stderr to a log file).
class Child final {
 public:
  Child(const std::string& program, const std::vector<std::string>& args,
        const std::string& log_path);
  ~Child();  // SIGKILL if still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool Running();
  // SIGTERM, then SIGKILL after `grace`; returns the exit code (128 + signal if killed).
  int Stop(std::chrono::milliseconds grace);

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

// Runs a command to completion; stdout in `out`, stderr passed through. Returns the exit code.
int RunCommand(const std::vector<std::string>& argv, std::string& out);

// Waits until `path` holds a port number; 0 on timeout.
int WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout);

std::string ReadFileText(const std::string& path);
std::string Trim(std::string s);

// From /proc/PID/status: "VmHWM" (peak RSS) or "VmRSS", in KiB; 0 if unknown.
uint64_t ProcStatusKiB(pid_t pid, const char* field);

// CPU time (user + system) of one process, or summed over every process named `comm`.
double ProcessCpuSeconds(pid_t pid);
double CpuSecondsOfComm(const std::string& comm);
// The parent of a process (e.g. the postmaster of a backend); 0 if unknown.
pid_t ParentOf(pid_t pid);
// CPU time of `parent` and its direct children (a postmaster and its backends).
double CpuSecondsOfTree(pid_t parent);
// Non-idle CPU time of the whole machine (all CPUs), from /proc/stat; steal included.
double MachineBusyCpuSeconds();
// CPU time the hypervisor gave to others while this machine's CPUs had work ("steal" in
// /proc/stat), all CPUs.
double MachineStealCpuSeconds();
// Bytes the whole machine has written to its block devices (pgpgout in /proc/vmstat), in MiB.
// On the benchmark's VM, writing to the virtual disk pauses every vCPU now and then (BENCHMARKS,
// session 10), so the query windows report it beside steal.
double MachineDiskWrittenMiB();

// The machine's floor for a request/response between two processes: a TCP echo on loopback.
// RunEchoServer listens on 127.0.0.1 (a free port, written to `port_file`) and answers every
// kEchoBytes it reads with the same bytes, one thread per connection, until it is killed.
// sonar-bench runs it as a child (its own session, like sonar-query) and measures it with
// EchoRoundTrips beside the queries, so the query latencies have a floor measured in the same
// window.
inline constexpr size_t kEchoBytes = 64;
[[noreturn]] void RunEchoServer(const std::string& port_file);

// Open loop: one round trip every 1/rate s from `start`, until `seconds` or `stop` (at least
// one, so a window that ends early still has a floor); each
// latency (ms) runs from its scheduled time to the last byte of the answer, so a late send is
// counted. Round trip i is the one sent at `start` + i / rate. Before `start`, one untimed round
// trip right after connecting warms the connection and both ends; its time goes to
// `*warm_up_ms` if given. Throws std::runtime_error if it cannot connect or the connection fails.
std::vector<double> EchoRoundTrips(int port, std::chrono::steady_clock::time_point start,
                                   double rate, double seconds, const std::atomic<bool>& stop,
                                   double* warm_up_ms = nullptr);

// libpq URL (postgresql://...) or key=value string, with the database replaced by `dbname`.
std::string WithDatabase(const std::string& url, const std::string& dbname);

struct Percentiles {
  uint64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};
// Nearest-rank percentiles of `samples` (sorted in place).
Percentiles Summarize(std::vector<double>& samples);

struct Machine {
  std::string cpu_model;
  unsigned cpus = 0;
  uint64_t mem_total_mib = 0;
  std::string kernel;
  std::string hostname;
};
Machine DescribeMachine();

// A minimal JSON writer: objects and arrays nest by Begin/End; values are escaped.
class Json final {
 public:
  // Inside an array (BeginArray) objects take no key.
  Json& BeginObject(const std::string& key = "");
  Json& EndObject();
  Json& BeginArray(const std::string& key);
  Json& EndArray();
  Json& Key(const std::string& key);
  Json& Str(const std::string& key, const std::string& value);
  Json& Num(const std::string& key, double value);
  Json& Int(const std::string& key, int64_t value);
  Json& Bool(const std::string& key, bool value);
  Json& Percent(const std::string& key, const Percentiles& p);  // {count,p50_ms,...}
  [[nodiscard]] std::string Text() const { return out_.str() + "\n"; }

 private:
  void Sep();
  void Indent();
  Json& Open(char bracket, bool array);  // after the key or separator
  Json& Close(char bracket);
  std::ostringstream out_;
  std::vector<bool> first_;     // per open object or array: nothing written in it yet
  std::vector<bool> in_array_;  // per open object or array: it is an array
};

}  // namespace sonar::bench
