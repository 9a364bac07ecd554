// memory_info / require_memory: see memory.h.
#include "memory.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "error.h"

namespace natgrad {
namespace {

thread_local int64_t t_call_limit = kNoLimit;

bool read_int(const std::string& file, int64_t* out) {
  std::ifstream in(file);
  std::string s;
  if (!(in >> s)) return false;
  if (s == "max") {
    *out = kNoLimit;
    return true;
  }
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str()) return false;
  *out = v;
  return true;
}

// The value of `key` in a "key value" file (memory.stat, /proc/meminfo's "Key: value kB").
bool read_key(const std::string& file, const std::string& key, int64_t* out) {
  std::ifstream in(file);
  std::string k;
  long long v;
  while (in >> k >> v) {
    if (!k.empty() && k.back() == ':') k.pop_back();
    if (k == key) {
      *out = v;
      return true;
    }
    in.ignore(1 << 16, '\n');
  }
  return false;
}

// This process's cgroup path for the v2 hierarchy ("0::/path") or the v1 memory controller.
std::string cgroup_path(bool v2) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (v2 && line.compare(0, 3, "0::") == 0) return path;
    if (!v2 && ("," + controllers + ",").find(",memory,") != std::string::npos) return path;
  }
  return "";
}

// The tightest limit of this process's cgroup and its ancestors: min over every level with a limit of
// (limit − usage + its reclaimable page cache), false when no level has one. The walk goes from the
// process's own cgroup up to the root of the mount (a container sees its own cgroup as the root);
// cgroup v1 also reports, in the leaf's memory.stat, the smallest limit above it that the mount may
// not show (hierarchical_memory_limit), counted against the leaf's usage.
bool cgroup_free(int64_t* free_bytes, std::string* source) {
  struct Layout {
    bool v2;
    const char* root;
    const char *limit, *usage, *inactive;
  };
  const Layout layouts[] = {
      {true, "/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"},
      {false, "/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"}};
  constexpr int64_t kUnlimited = int64_t(1) << 60;  // "max", or v1's 2⁶³ − a page
  bool found = false;
  const auto consider = [&](bool v2, const std::string& what, int64_t limit, int64_t usage, int64_t inactive) {
    int64_t f = limit - usage + inactive;
    if (f < 0) f = 0;
    if (found && f >= *free_bytes) return;
    found = true;
    *free_bytes = f;
    *source = std::string(v2 ? "cgroup v2 " : "cgroup v1 ") + what + " " + bytes_text(limit) + " − usage " +
              bytes_text(usage - inactive);
  };
  for (const Layout& l : layouts) {
    std::string path = cgroup_path(l.v2);
    bool leaf = true;
    for (;;) {
      const std::string dir = std::string(l.root) + path;
      int64_t limit = 0, usage = 0, inactive = 0, hierarchical = 0;
      if (read_int(dir + "/" + l.limit, &limit) && read_int(dir + "/" + l.usage, &usage)) {
        read_key(dir + "/memory.stat", l.inactive, &inactive);
        if (limit < kUnlimited) consider(l.v2, l.limit, limit, usage, inactive);
        if (!l.v2 && leaf && read_key(dir + "/memory.stat", "hierarchical_memory_limit", &hierarchical) &&
            hierarchical < kUnlimited && hierarchical < limit)
          consider(false, "hierarchical_memory_limit", hierarchical, usage, inactive);
        leaf = false;
      }
      if (path.empty() || path == "/") break;
      const size_t slash = path.find_last_of('/');
      path = slash == std::string::npos || slash == 0 ? "" : path.substr(0, slash);
    }
  }
  return found;
}

}  // namespace

CallMemoryLimit::CallMemoryLimit(int64_t limit) : previous_(t_call_limit) { t_call_limit = limit; }
CallMemoryLimit::~CallMemoryLimit() { t_call_limit = previous_; }
int64_t CallMemoryLimit::current() { return t_call_limit; }

std::string bytes_text(int64_t bytes) {
  char t[64];
  const double b = (double)bytes;
  if (b >= 1e9)
    std::snprintf(t, sizeof t, "%.2f GB", b / 1e9);
  else if (b >= 1e6)
    std::snprintf(t, sizeof t, "%.1f MB", b / 1e6);
  else
    std::snprintf(t, sizeof t, "%lld bytes", (long long)bytes);
  return t;
}

int64_t memory_limit_from_env() {
  const char* v = std::getenv("NATGRAD_MAX_MEMORY");
  if (!v || !*v) return kNoLimit;
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  if (end == v || !(x > 0)) return -1;
  double scale = 1;
  std::string suffix(end);
  while (!suffix.empty() && std::isspace((unsigned char)suffix.back())) suffix.pop_back();
  if (suffix == "" || suffix == "B")
    scale = 1;
  else if (suffix == "K" || suffix == "KB" || suffix == "KiB")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "MB" || suffix == "MiB")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GB" || suffix == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "TB" || suffix == "TiB")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else
    return -1;
  const double bytes = x * scale;
  return bytes >= 9.2e18 ? kNoLimit : (int64_t)bytes;
}

MemoryInfo memory_info(int64_t limit) {
  MemoryInfo m;
  m.limit = limit;
  int64_t kb = 0;
  const bool meminfo = read_key("/proc/meminfo", "MemAvailable", &kb);
  m.system = meminfo ? kb * 1024 : kNoLimit;
  m.source = meminfo ? "/proc/meminfo MemAvailable" : "no memory figure readable on this system";
  int64_t cg = 0;
  std::string cg_source;
  if (cgroup_free(&cg, &cg_source) && cg < m.system) {
    m.system = cg;
    m.source = cg_source;
  }
  m.available = m.system < limit ? m.system : limit;
  return m;
}

void require_memory(const std::string& fn, int64_t bytes, const std::string& what, int64_t limit) {
  if (bytes < kCheckBytes) return;
  const MemoryInfo m = memory_info(limit);
  if (bytes <= m.available) return;
  const bool capped = m.limit < m.system;
  Error e{"ERR_OUT_OF_MEMORY",
          fn + ": needs " + bytes_text(bytes) + " (" + what + ") but " + bytes_text(m.available) + " is available (" +
              (capped ? "the limit NATGRAD_MAX_MEMORY / setMemoryLimit() / maxMemory of " + bytes_text(m.limit)
                      : m.source) +
              ")"};
  e.bytes_needed = bytes;
  e.bytes_available = m.available;
  throw e;
}

}  // namespace natgrad
