#include "bench/bench_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <stdexcept>
#include <thread>

namespace sonar::bench {
namespace {

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// utime + stime of /proc/PID/stat, in clock ticks; -1 if gone. `ppid` gets the parent.
long long CpuTicks(const std::string& stat_path, std::string* comm, long long* ppid = nullptr) {
  std::ifstream in(stat_path);
  std::string text;
  if (!std::getline(in, text)) return -1;
  const size_t open = text.find('('), close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return -1;
  if (comm != nullptr) *comm = text.substr(open + 1, close - open - 1);
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // Fields after comm start at 3 (state); utime is 14, stime 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 4 && ppid != nullptr) *ppid = std::stoll(field);
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

}  // namespace

Child::Child(const std::string& program, const std::vector<std::string>& args,
             const std::string& log_path) {
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv = Argv(all);
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // the services go when sonar-bench does, even on a crash
    // Each service in its own session, hence its own scheduling group with autogroup (as in its
    // own container), like every PostgreSQL backend: otherwise sonar-query's threads would
    // share one group's CPU share with sonar-ingest and the load-generating client.
    setsid();
    execv(program.c_str(), argv.data());
    _exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool Child::Running() {
  if (exited_ || pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    code_ = DecodeStatus(status);
    return false;
  }
  return true;
}

int Child::Stop(std::chrono::milliseconds grace) {
  if (!Running()) return code_;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) return code_;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  exited_ = true;
  code_ = DecodeStatus(status);
  return code_;
}

int RunCommand(const std::vector<std::string>& args, std::string& out) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;  // a daemon started by the command must not hold it
  std::vector<char*> argv = Argv(args);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDOUT_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return DecodeStatus(status);
}

int WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    int port = 0;
    if (in >> port && port > 0) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

namespace {

bool ReadFully(int fd, char* buf, size_t n) {
  while (n > 0) {
    const ssize_t got = read(fd, buf, n);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      return false;
    }
    buf += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool WriteFully(int fd, const char* buf, size_t n) {
  while (n > 0) {
    const ssize_t put = write(fd, buf, n);
    if (put <= 0) {
      if (put < 0 && errno == EINTR) continue;
      return false;
    }
    buf += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

void NoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

void RunEchoServer(const std::string& port_file) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 16) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("echo server");
    std::exit(1);
  }
  {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << ntohs(addr.sin_port) << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  for (;;) {
    const int conn = accept(listener, nullptr, nullptr);
    if (conn < 0) continue;
    NoDelay(conn);
    std::thread([conn] {
      char buf[kEchoBytes];
      while (ReadFully(conn, buf, sizeof buf) && WriteFully(conn, buf, sizeof buf)) {
      }
      close(conn);
    }).detach();
  }
}

std::vector<double> EchoRoundTrips(int port, std::chrono::steady_clock::time_point start,
                                   double rate, double seconds, const std::atomic<bool>& stop,
                                   double* warm_up_ms) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in addr = Loopback(port);
  if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("echo: cannot connect to 127.0.0.1:" + std::to_string(port));
  }
  NoDelay(fd);
  std::vector<double> ms;
  char buf[kEchoBytes] = {};
  const auto warm_up = std::chrono::steady_clock::now();
  if (!WriteFully(fd, buf, sizeof buf) || !ReadFully(fd, buf, sizeof buf)) {
    close(fd);
    throw std::runtime_error("echo: the connection failed");
  }
  if (warm_up_ms != nullptr) {
    *warm_up_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - warm_up)
            .count();
  }
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  bool failed = false;
  for (uint64_t i = 0;; ++i) {
    const auto at = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                interval * static_cast<double>(i));
    if (std::chrono::duration<double>(at - start).count() >= seconds) break;
    std::this_thread::sleep_until(at);
    if (stop.load() && !ms.empty()) break;
    if (!WriteFully(fd, buf, sizeof buf) || !ReadFully(fd, buf, sizeof buf)) {
      failed = true;
      break;
    }
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - at).count());
  }
  close(fd);
  if (failed) throw std::runtime_error("echo: the connection failed");
  return ms;
}

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

uint64_t ProcStatusKiB(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size()));
  }
  return 0;
}

double ProcessCpuSeconds(pid_t pid) {
  const long long ticks = CpuTicks("/proc/" + std::to_string(pid) + "/stat", nullptr);
  return ticks < 0 ? 0.0 : static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double CpuSecondsOfComm(const std::string& comm) {
  long long total = 0;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return 0;
  while (dirent* entry = readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(entry->d_name[0]))) continue;
    std::string name;
    const long long ticks = CpuTicks(std::string("/proc/") + entry->d_name + "/stat", &name);
    if (ticks > 0 && name == comm) total += ticks;
  }
  closedir(dir);
  return static_cast<double>(total) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

pid_t ParentOf(pid_t pid) {
  long long ppid = 0;
  CpuTicks("/proc/" + std::to_string(pid) + "/stat", nullptr, &ppid);
  return static_cast<pid_t>(ppid);
}

double CpuSecondsOfTree(pid_t parent) {
  long long total = std::max(0LL, CpuTicks("/proc/" + std::to_string(parent) + "/stat", nullptr));
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return 0;
  while (dirent* entry = readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(entry->d_name[0]))) continue;
    long long ppid = 0;
    const long long ticks =
        CpuTicks(std::string("/proc/") + entry->d_name + "/stat", nullptr, &ppid);
    if (ticks > 0 && ppid == parent) total += ticks;
  }
  closedir(dir);
  return static_cast<double>(total) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

namespace {
// The first line of /proc/stat: all CPUs, in clock ticks.
struct MachineTicks {
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
};
MachineTicks ReadMachineTicks() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  MachineTicks t;
  in >> cpu >> t.user >> t.nice >> t.system >> t.idle >> t.iowait >> t.irq >> t.softirq >> t.steal;
  return t;
}
double TicksToSeconds(long long ticks) {
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}
}  // namespace

double MachineBusyCpuSeconds() {
  const MachineTicks t = ReadMachineTicks();
  return TicksToSeconds(t.user + t.nice + t.system + t.irq + t.softirq + t.steal);
}

double MachineStealCpuSeconds() { return TicksToSeconds(ReadMachineTicks().steal); }

double MachineDiskWrittenMiB() {
  std::ifstream in("/proc/vmstat");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "pgpgout") return static_cast<double>(value) / 1024.0;  // KiB written out
  }
  return 0;
}

std::string WithDatabase(const std::string& url, const std::string& dbname) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    const size_t scheme = url.find("://") + 3;
    const size_t query = url.find('?', scheme);
    const std::string head = url.substr(0, query);
    const std::string tail = query == std::string::npos ? "" : url.substr(query);
    const size_t slash = head.find('/', scheme);
    return (slash == std::string::npos ? head : head.substr(0, slash)) + "/" + dbname + tail;
  }
  return url + " dbname=" + dbname;  // key=value: the last keyword wins
}

Percentiles Summarize(std::vector<double>& samples) {
  Percentiles p;
  p.count = samples.size();
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    const size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::clamp<size_t>(i, 1, samples.size()) - 1];
  };
  p.p50 = rank(0.50);
  p.p90 = rank(0.90);
  p.p99 = rank(0.99);
  p.max = samples.back();
  double sum = 0;
  for (double s : samples) sum += s;
  p.mean = sum / static_cast<double>(samples.size());
  return p;
}

Machine DescribeMachine() {
  Machine m;
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0 && m.cpu_model.empty()) {
      m.cpu_model = Trim(line.substr(line.find(':') + 1));
    }
  }
  m.cpus = std::thread::hardware_concurrency();
  std::ifstream mem("/proc/meminfo");
  while (std::getline(mem, line)) {
    if (line.rfind("MemTotal:", 0) == 0) m.mem_total_mib = std::stoull(line.substr(9)) / 1024;
  }
  utsname u{};
  if (uname(&u) == 0) {
    m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
    m.hostname = u.nodename;
  }
  return m;
}

void Json::Indent() { out_ << "\n" << std::string(2 * first_.size(), ' '); }

void Json::Sep() {
  if (first_.empty()) return;
  if (!first_.back()) out_ << ",";
  first_.back() = false;
  Indent();
}

Json& Json::Key(const std::string& key) {
  Sep();
  out_ << std::quoted(key) << ": ";
  return *this;
}

Json& Json::BeginObject(const std::string& key) {
  if (!first_.empty()) {
    if (in_array_.back()) {
      Sep();
    } else {
      Key(key);
    }
  }
  return Open('{', false);
}

Json& Json::EndObject() { return Close('}'); }

Json& Json::BeginArray(const std::string& key) {
  Key(key);
  return Open('[', true);
}

Json& Json::EndArray() { return Close(']'); }

Json& Json::Open(char bracket, bool array) {
  out_ << bracket;
  first_.push_back(true);
  in_array_.push_back(array);
  return *this;
}

Json& Json::Close(char bracket) {
  const bool empty = first_.back();
  first_.pop_back();
  in_array_.pop_back();
  if (!empty) Indent();
  out_ << bracket;
  return *this;
}

Json& Json::Str(const std::string& key, const std::string& value) {
  Key(key);
  out_ << '"';
  for (char c : value) {
    switch (c) {
      case '"':
        out_ << "\\\"";
        break;
      case '\\':
        out_ << "\\\\";
        break;
      case '\n':
        out_ << "\\n";
        break;
      case '\t':
        out_ << "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out_ << buf;
        } else {
          out_ << c;
        }
    }
  }
  out_ << '"';
  return *this;
}

Json& Json::Num(const std::string& key, double value) {
  Key(key);
  if (!std::isfinite(value)) {
    out_ << "null";
  } else {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    out_ << buf;
  }
  return *this;
}

Json& Json::Int(const std::string& key, int64_t value) {
  Key(key);
  out_ << value;
  return *this;
}

Json& Json::Bool(const std::string& key, bool value) {
  Key(key);
  out_ << (value ? "true" : "false");
  return *this;
}

Json& Json::Percent(const std::string& key, const Percentiles& p) {
  BeginObject(key);
  Int("count", static_cast<int64_t>(p.count));
  Num("p50_ms", p.p50);
  Num("p90_ms", p.p90);
  Num("p99_ms", p.p99);
  Num("max_ms", p.max);
  Num("mean_ms", p.mean);
  return EndObject();
}

}  // namespace sonar::bench
