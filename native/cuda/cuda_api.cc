// Finds and loads the CUDA libraries at run time (see cuda_api.h).
//
// Search order for libcudart / libcublas / libcusolver:
//   1. NATGRAD_CUDA_PATH (':'-separated; each entry, its lib64/ and lib/) — when
//      set, ONLY these folders are searched: it is the explicit override;
//   2. CUDA_PATH (its lib64/, lib/, targets/<arch>-linux/lib/);
//   3. LD_LIBRARY_PATH;
//   4. the folders of the Python nvidia-* wheels (nvidia/{cu13,cublas,cusolver,
//      cuda_runtime,cusparse,nvjitlink}/lib under site-packages of VIRTUAL_ENV,
//      CONDA_PREFIX, PYTHONPATH, ~/.local, /usr/local/lib, /usr/lib, /opt/conda);
//   5. the usual install folders: /usr/local/cuda/lib64, /usr/local/cuda-*/lib64
//      (newest first), /opt/cuda/lib64, /usr/lib/<arch>-linux-gnu, /usr/lib64;
//   6. the system loader (dlopen of the bare name: ld.so.cache, DT_RUNPATH).
// Within a folder the newest major version comes first (libcublas.so.13, .12,
// .11), except that once libcublas is found, libcudart and libcusolver of the
// same CUDA release are preferred. libcuda.so.1 belongs to the NVIDIA driver:
// it is looked for in the folders above (for WSL and unusual installs) and then
// by the system loader.
// A library whose own dependency (e.g. libcublasLt.so.12) is not on the loader's
// path is retried after loading that dependency from the same folder.
#include "cuda_api.h"

#include <dlfcn.h>
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace natgrad::cuda {
namespace {

#if defined(__x86_64__)
constexpr const char* kArch = "x86_64";
#elif defined(__aarch64__)
constexpr const char* kArch = "aarch64";
#else
constexpr const char* kArch = "";
#endif

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = s.find(sep, start);
    const std::string part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) out.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}
std::vector<std::string> glob_dirs(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g;
  if (glob(pattern.c_str(), GLOB_ONLYDIR | GLOB_NOSORT, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  }
  globfree(&g);
  // newest first, comparing the numbers in the names: /usr/local/cuda-12.10 before /usr/local/cuda-12.8
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    auto key = [](const std::string& s) {
      std::vector<long> k;
      long cur = -1;
      for (char c : s) {
        if (c >= '0' && c <= '9')
          cur = (cur < 0 ? 0 : cur * 10) + (c - '0');
        else if (cur >= 0) {
          k.push_back(cur);
          cur = -1;
        }
      }
      if (cur >= 0) k.push_back(cur);
      return k;
    };
    return key(a) > key(b);
  });
  return out;
}

struct Group {
  std::string label;              // e.g. "NATGRAD_CUDA_PATH=/x" or "usual install folders"
  std::vector<std::string> dirs;  // candidate folders, in order
  bool explicit_ = false;         // user-named: list even if missing
};

std::vector<Group> search_groups() {
  std::vector<Group> groups;
  const std::string natgrad_path = env("NATGRAD_CUDA_PATH");
  if (!natgrad_path.empty()) {
    Group g{"NATGRAD_CUDA_PATH=" + natgrad_path, {}, true};
    for (const std::string& d : split(natgrad_path, ':')) {
      g.dirs.push_back(d);
      g.dirs.push_back(d + "/lib64");
      g.dirs.push_back(d + "/lib");
    }
    groups.push_back(g);
    return groups;
  }
  const std::string cuda_path = env("CUDA_PATH");
  if (!cuda_path.empty()) {
    groups.push_back({"CUDA_PATH=" + cuda_path,
                      {cuda_path + "/lib64", cuda_path + "/lib", cuda_path + "/targets/" + kArch + "-linux/lib"},
                      true});
  }
  const std::string ld = env("LD_LIBRARY_PATH");
  if (!ld.empty()) groups.push_back({"LD_LIBRARY_PATH", split(ld, ':'), true});

  Group wheels{"Python nvidia-* wheels", {}, false};
  std::vector<std::string> roots;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    const std::string v = env(var);
    if (!v.empty()) {
      for (const std::string& d : glob_dirs(v + "/lib/python3*/site-packages")) roots.push_back(d);
      if (std::string(var) == "CONDA_PREFIX") wheels.dirs.push_back(v + "/lib");  // conda's cuda-* packages
    }
  }
  for (const std::string& p : split(env("PYTHONPATH"), ':')) roots.push_back(p);
  const std::string home = env("HOME");
  if (!home.empty())
    for (const std::string& d : glob_dirs(home + "/.local/lib/python3*/site-packages")) roots.push_back(d);
  for (const char* pattern :
       {"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
        "/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages", "/opt/conda/lib/python3*/site-packages"})
    for (const std::string& d : glob_dirs(pattern)) roots.push_back(d);
  for (const std::string& r : roots)
    for (const char* pkg : {"cu13", "cu12", "cublas", "cusolver", "cuda_runtime", "cusparse", "nvjitlink"})
      wheels.dirs.push_back(r + "/nvidia/" + pkg + "/lib");
  groups.push_back(wheels);

  Group usual{"usual install folders",
              {"/usr/local/cuda/lib64", std::string("/usr/local/cuda/targets/") + kArch + "-linux/lib"},
              false};
  for (const std::string& d : glob_dirs("/usr/local/cuda-*")) {
    usual.dirs.push_back(d + "/lib64");
    usual.dirs.push_back(d + "/targets/" + kArch + "-linux/lib");
  }
  for (const std::string& d : {std::string("/opt/cuda/lib64"), std::string("/usr/lib/") + kArch + "-linux-gnu",
                               std::string("/usr/lib/") + kArch + "-linux-gnu/nvidia/current",
                               std::string("/usr/lib64"), std::string("/usr/lib/wsl/lib")})
    usual.dirs.push_back(d);
  groups.push_back(usual);
  return groups;
}

// Existing folders, deduplicated, in search order.
std::vector<std::string> search_dirs(const std::vector<Group>& groups) {
  std::vector<std::string> out;
  for (const Group& g : groups)
    for (const std::string& d : g.dirs)
      if (is_dir(d) && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  return out;
}

bool system_loader_allowed() { return env("NATGRAD_CUDA_PATH").empty(); }

std::string describe(const std::vector<Group>& groups) {
  std::string s;
  for (const Group& g : groups) {
    std::vector<std::string> shown;
    for (const std::string& d : g.dirs)
      if ((g.explicit_ || is_dir(d)) && std::find(shown.begin(), shown.end(), d) == shown.end()) shown.push_back(d);
    if (!s.empty()) s += "; ";
    s += g.label + ": ";
    if (shown.empty()) {
      s += "(none present)";
    } else {
      for (size_t i = 0; i < shown.size(); ++i) {
        if (i) s += ", ";
        s += shown[i];
        if (g.explicit_ && !is_dir(shown[i])) s += " (missing)";
      }
    }
  }
  if (system_loader_allowed()) s += "; and the system loader (ld.so.cache)";
  return s;
}

struct Found {
  void* handle = nullptr;
  std::string path;   // where it was loaded from
  std::string error;  // a file that exists but failed to load: "path: dlerror"
};

// dlopen(path); on a missing dependency "libX.so.N: cannot open shared object file",
// load libX.so.N from `dir` (or any search folder) first and retry.
void* open_with_deps(const std::string& path, const std::string& dir, const std::vector<std::string>& dirs,
                     std::string* err) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    dlerror();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    const char* e = dlerror();
    *err = e ? e : "dlopen failed";
    const std::string marker = ": cannot open shared object file";
    const size_t at = err->find(marker);
    if (at == std::string::npos) return nullptr;
    const std::string dep = err->substr(0, at);
    if (dep.find('/') != std::string::npos || dep == path) return nullptr;
    bool loaded = false;
    std::vector<std::string> where{dir};
    where.insert(where.end(), dirs.begin(), dirs.end());
    for (const std::string& d : where) {
      const std::string cand = d + "/" + dep;
      if (is_file(cand) && dlopen(cand.c_str(), RTLD_NOW | RTLD_LOCAL)) {
        loaded = true;
        break;
      }
    }
    if (!loaded) return nullptr;
  }
  return nullptr;
}

Found find_library(const std::vector<std::string>& names, const std::vector<std::string>& dirs, bool system_first) {
  Found f;
  auto try_system = [&]() {
    if (!system_loader_allowed() && !system_first) return false;
    for (const std::string& n : names) {
      dlerror();
      if (void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) {
        f.handle = h;
        f.path = n + " (system loader)";
        return true;
      }
    }
    return false;
  };
  if (system_first && try_system()) return f;
  for (const std::string& d : dirs) {
    for (const std::string& n : names) {
      const std::string p = d + "/" + n;
      if (!is_file(p)) continue;
      std::string err;
      if (void* h = open_with_deps(p, d, dirs, &err)) {
        f.handle = h;
        f.path = p;
        return f;
      }
      if (f.error.empty()) f.error = p + ": " + err;
    }
  }
  if (!system_first && system_loader_allowed() && try_system()) return f;
  return f;
}

std::string join_versions(const std::vector<std::string>& names) {
  // "libcublas.so.13", "libcublas.so.12" → "libcublas.so.13/.12"
  std::string base = names[0].substr(0, names[0].find(".so.") + 3);
  std::string s = names[0];
  for (size_t i = 1; i < names.size(); ++i) s += "/" + names[i].substr(base.size());
  return s;
}

// Family = CUDA major release. cuSOLVER's soname major lags: CUDA 13 → .12, CUDA 12 and 11 → .11.
struct Family {
  int cuda;
  const char* cudart;
  const char* cublas;
  const char* cusolver;
};
constexpr Family kFamilies[] = {
    {13, "libcudart.so.13", "libcublas.so.13", "libcusolver.so.12"},
    {12, "libcudart.so.12", "libcublas.so.12", "libcusolver.so.11"},
    {11, "libcudart.so.11.0", "libcublas.so.11", "libcusolver.so.11"},
};

std::vector<std::string> names_for(const char* Family::*member, int prefer_cuda) {
  std::vector<std::string> out;
  for (const Family& f : kFamilies)
    if (f.cuda == prefer_cuda) out.push_back(f.*member);
  for (const Family& f : kFamilies)
    if (std::find(out.begin(), out.end(), std::string(f.*member)) == out.end()) out.push_back(f.*member);
  return out;
}

const Api* g_api = nullptr;
std::string g_reason;

void load_once() {
  static Api api;
  const std::vector<Group> groups = search_groups();
  const std::vector<std::string> dirs = search_dirs(groups);
  std::vector<std::string> missing, found_notes;

  // cuBLAS first: its release picks the preferred cudart / cuSOLVER.
  const std::vector<std::string> cublas_names = names_for(&Family::cublas, 13);
  Found cublas = find_library(cublas_names, dirs, false);
  int family = 13;
  if (cublas.handle) {
    for (const Family& f : kFamilies)
      if (cublas.path.find(f.cublas) != std::string::npos) family = f.cuda;
  }
  const std::vector<std::string> cudart_names = names_for(&Family::cudart, family);
  const std::vector<std::string> cusolver_names = names_for(&Family::cusolver, family);
  Found cudart = find_library(cudart_names, dirs, false);
  Found cusolver = find_library(cusolver_names, dirs, false);
  Found driver = find_library({"libcuda.so.1"}, dirs, false);
  if (!driver.handle && !system_loader_allowed()) {
    // the driver is part of the system: NATGRAD_CUDA_PATH does not hide it
    dlerror();
    if (void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
      driver.handle = h;
      driver.path = "libcuda.so.1 (system loader)";
    }
  }

  auto note = [&](const Found& f, const std::vector<std::string>& names) {
    if (f.handle) {
      found_notes.push_back(f.path);
    } else if (!f.error.empty()) {
      missing.push_back(join_versions(names) + " found but failed to load (" + f.error + ")");
    } else {
      missing.push_back(join_versions(names) + " not found");
    }
  };
  note(cudart, cudart_names);
  note(cublas, cublas_names);
  note(cusolver, cusolver_names);
  std::string driver_problem;
  if (!driver.handle)
    driver_problem = driver.error.empty() ? "no NVIDIA driver (libcuda.so.1 not found)"
                                          : "the NVIDIA driver library failed to load (" + driver.error + ")";

  if (!missing.empty() || !driver_problem.empty()) {
    std::string r;
    if (!missing.empty()) {
      for (size_t i = 0; i < missing.size(); ++i) r += (i ? ", " : "") + missing[i];
      r += " (searched " + describe(groups) + ")";
      if (!found_notes.empty()) {
        r += "; found ";
        for (size_t i = 0; i < found_notes.size(); ++i) r += (i ? ", " : "") + found_notes[i];
      }
    }
    if (!driver_problem.empty()) r += (r.empty() ? "" : "; ") + driver_problem;
    if (!missing.empty())
      r += ". Install the CUDA toolkit or the nvidia-cublas/nvidia-cusolver/nvidia-cuda-runtime wheels, or set "
           "NATGRAD_CUDA_PATH to the folder holding them";
    g_reason = r;
    return;
  }

  // Every symbol must resolve.
  auto lib_of = [&](const char* lib) -> const Found& {
    const std::string l(lib);
    return l == "driver" ? driver : l == "cudart" ? cudart : l == "cublas" ? cublas : cusolver;
  };
  std::vector<std::string> unresolved;
#define NATGRAD_CUDA_RESOLVE(lib, ret, name, params)              \
  {                                                               \
    const Found& f = lib_of(#lib);                                \
    dlerror();                                                    \
    void* sym = dlsym(f.handle, #name);                           \
    if (sym)                                                      \
      api.name = reinterpret_cast<ret(*) params>(sym);            \
    else                                                          \
      unresolved.push_back(std::string(#name) + " in " + f.path); \
  }
  NATGRAD_CUDA_FUNCTIONS(NATGRAD_CUDA_RESOLVE)
#undef NATGRAD_CUDA_RESOLVE
  if (!unresolved.empty()) {
    std::string r = "missing CUDA symbols: ";
    for (size_t i = 0; i < unresolved.size() && i < 6; ++i) r += (i ? ", " : "") + unresolved[i];
    if (unresolved.size() > 6) r += ", and " + std::to_string(unresolved.size() - 6) + " more";
    r += " (natgrad needs CUDA ≥ 11 libraries)";
    g_reason = r;
    return;
  }
  api.driver_path = driver.path;
  api.cudart_path = cudart.path;
  api.cublas_path = cublas.path;
  api.cusolver_path = cusolver.path;
  g_api = &api;
}

}  // namespace

const Api* load_api(std::string* reason) {
  static std::once_flag once;
  std::call_once(once, load_once);
  if (!g_api && reason) *reason = g_reason;
  return g_api;
}

std::string describe_search_path() { return describe(search_groups()); }

}  // namespace natgrad::cuda
