// The N-API surface. Each entry point checks its arguments on the main thread
// (TypeError / RangeError naming the argument, with a Node-style `code`),
// keeps the typed arrays it reads and writes, then runs one backend kernel —
// inline (sync form) or on the libuv pool (xxxAsync form, returns a Promise).
// Kernel failures arrive as natgrad::Error and become JS errors with `code`.
// Every array of a call is a Float32Array, or every one a Float64Array (the float64 forms of gemm,
// gram, layerGram, layerGramSum, choleskySolve and pinvSolve). The sync form uses it in place (zero copy); the
// Promise form works on private copies unless it is backed by a SharedArrayBuffer
// (see "Async calls and the lifetime of array memory" below).
#include <napi.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "backend.h"
#include "cpu/clones.h"
#include "cpu/cpu_kernels.h"
#include "cpu/gemm_nt.h"
#include "cpu/parallel.h"
#include "scratch.h"
#include "error.h"
#include "memory.h"

namespace {

using natgrad::Backend;
using natgrad::Precision;

// What one Node.js environment (the main thread, each Worker) chose: kept as Node-API instance data,
// so Workers loading natgrad never share or race on it. The backends themselves are process-wide
// singletons whose methods are safe to call from several threads (cpu: OpenBLAS behind one lock).
struct EnvState {
  Backend* backend = nullptr;                // the selected backend
  std::string reason;                        // why it was chosen / why CUDA is not in use
  int threads = 0;                           // setThreads() for this environment's CPU calls (0: the process default)
  int64_t memory_limit = natgrad::kNoLimit;  // NATGRAD_MAX_MEMORY or setMemoryLimit(), bytes
  bool memory_limit_invalid = false;         // NATGRAD_MAX_MEMORY was set but is not a size
  Napi::FunctionReference promise;           // the Promise constructor, as it was when natgrad loaded
};

EnvState& env_state(Napi::Env env) { return *env.GetInstanceData<EnvState>(); }

// BLAS and LAPACK take 32-bit ints: every dimension and every matrix must fit.
constexpr int64_t MAX_ELEMENTS = INT32_MAX;

[[noreturn]] void throw_arg(Napi::Env env, bool range, const std::string& msg) {
  Napi::Error e = range ? Napi::Error(Napi::RangeError::New(env, msg)) : Napi::Error(Napi::TypeError::New(env, msg));
  e.Set("code", Napi::String::New(env, range ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE"));
  throw e;
}

Napi::Error to_js_error(Napi::Env env, const natgrad::Error& err) {
  Napi::Error e = Napi::Error::New(env, err.message);
  e.Set("code", Napi::String::New(env, err.code));
  if (err.column >= 0) e.Set("column", Napi::Number::New(env, (double)err.column));
  if (err.index >= 0) e.Set("index", Napi::Number::New(env, (double)err.index));
  if (err.bytes_needed >= 0) e.Set("bytesNeeded", Napi::Number::New(env, (double)err.bytes_needed));
  if (err.bytes_available >= 0) e.Set("bytesAvailable", Napi::Number::New(env, (double)err.bytes_available));
  return e;
}

const char* typed_array_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

std::string describe(const Napi::Value& v) {
  if (v.IsTypedArray()) return typed_array_name(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsArray()) return "Array";
  if (v.IsNull()) return "null";
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_bigint: return "bigint";
    case napi_function: return "function";
    case napi_symbol: return "symbol";
    default: return "object";
  }
}

// The element type of a call's arrays.
enum class DType { f32, f64 };
const char* dtype_name(DType d) { return d == DType::f64 ? "Float64Array" : "Float32Array"; }

// A typed array's first element (napi_get_typedarray_info: the buffer's data plus the view's byte
// offset; for a SharedArrayBuffer too, whose ArrayBuffer() accessor is not an ArrayBuffer).
void* data_of(const Napi::TypedArray& a) {
  void* data = nullptr;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  napi_value buffer;
  if (napi_get_typedarray_info(a.Env(), a, &type, &length, &data, &buffer, &offset) != napi_ok) return nullptr;
  return data;
}

struct Arr {
  void* data = nullptr;
  int64_t length = 0;
  Napi::Value value;
  bool shared = false;  // backed by a SharedArrayBuffer (which can be neither detached nor shrunk)
  bool fresh = false;   // allocated by this call (an output passed as null): no one else holds it yet
  DType dtype = DType::f32;
  int64_t bytes() const { return length * (dtype == DType::f64 ? 8 : 4); }
  float* f() const { return static_cast<float*>(data); }
  double* d() const { return static_cast<double*>(data); }
  bool in_place() const { return shared || fresh; }  // the Promise form may use it without a private copy
  // (an output the call will allocate has no memory yet and overlaps nothing)
  bool overlaps(const Arr& o) const {
    const char *a = static_cast<const char*>(data), *b = static_cast<const char*>(o.data);
    return a && b && a < b + o.bytes() && b < a + bytes();
  }
  bool same(const Arr& o) const { return data == o.data && bytes() == o.bytes(); }
};

// How a kernel uses one of its arrays: read only, written in full, or read and written.
enum class Role { in, out, inout };
struct Binding {
  Arr* array;
  const char* name;
  Role role;
  const char* may_be = nullptr;  // an output that may be this input, the same array (X = R: solve in place)
};

// Argument reader for one call: every failure names the function and argument. A kernel reads its
// arguments by name from its parameter list (Job::kParams, the one place that gives their order),
// and every array it reads as an input, output or both is recorded there with its role: from that
// one list come the private copies of the Promise form, the references that keep the arrays alive,
// the NaN/Inf scan of what the kernel reads and the overlap check of what it writes.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, size_t count) : info_(info), fn_(fn) {
    if (info.Length() < count)
      throw_arg(
          info.Env(), false,
          std::string(fn) + ": expected " + std::to_string(count) + " arguments, got " + std::to_string(info.Length()));
  }
  Args(const Napi::CallbackInfo& info, const char* fn, const std::vector<const char*>& params,
       std::vector<Binding>* arrays)
      : Args(info, fn, params.size()) {
    params_ = &params;
    arrays_ = arrays;
  }
  Napi::Env env() const { return info_.Env(); }
  const std::string& fn() const { return fn_; }
  Napi::Value value(const char* name) const { return info_[pos(name)]; }
  // The element type of the call's arrays (the first array's; every later one must match it).
  DType dtype() const { return dtype_; }
  // For a kernel with a float32 form only: a Float64Array is then a TypeError naming it.
  void float32_only() { allow_f64_ = false; }
  // A scale factor: any finite number in a float64 call, within the float32 range in a float32 one.
  double scale(const char* name) { return dtype_ == DType::f64 ? number(pos(name), name) : float32(pos(name), name); }

  // ---- a kernel's arguments, by name
  double nonnegative(const char* name) { return nonnegative(pos(name), name); }
  float float32(const char* name) { return float32(pos(name), name); }
  int64_t size(const char* name) { return size(pos(name), name); }
  bool boolean(const char* name) { return boolean(pos(name), name); }
  Precision precision(const char* name) { return precision(pos(name)); }
  Napi::Array array(const char* name, uint32_t max) { return array(pos(name), name, max); }
  // An array the kernel reads, of exactly `length` elements.
  void in(Arr* a, const char* name, int64_t length) { bind(a, f32(pos(name), name, length), name, Role::in); }
  // An array the kernel writes in full: a Float32Array of `length` elements, or null / undefined for one the
  // call allocates. `may_be`: the input this output may be (the same array, not a partial overlap).
  void out(Arr* a, const char* name, int64_t length, const char* may_be = nullptr) {
    bind(a, f32_out(pos(name), name, length), name, Role::out, may_be);
  }
  // An array the kernel reads and writes.
  void inout(Arr* a, const char* name, int64_t length) { bind(a, f32(pos(name), name, length), name, Role::inout); }
  // A Float64Array of exactly `length` elements whatever the call's type (float64 coefficients and
  // accumulators beside float32 matrices), read, written in full, or read and written.
  void in64(Arr* a, const char* name, int64_t length) { bind(a, f64(pos(name), name, length), name, Role::in); }
  void out64(Arr* a, const char* name, int64_t length) { bind(a, f64(pos(name), name, length), name, Role::out); }
  void inout64(Arr* a, const char* name, int64_t length) { bind(a, f64(pos(name), name, length), name, Role::inout); }
  // An element of an Array argument that the kernel reads (its name, e.g. "bs[2]", must outlive the call).
  void in_rows(Arr* a, const Napi::Value& v, const std::string& name, int64_t unit, const char* unit_text,
               int64_t* width) {
    bind(a, f32_rows(v, name, unit, unit_text, width), name.c_str(), Role::in);
  }
  // After the last argument: no output overlaps an input (unless it is its declared `may_be`, whole).
  void check_overlaps() {
    for (const Binding& o : *arrays_) {
      if (o.role == Role::in) continue;
      for (const Binding& i : *arrays_) {
        if (i.role != Role::in || !o.array->overlaps(*i.array)) continue;
        if (o.may_be && std::strcmp(o.may_be, i.name) == 0 && o.array->same(*i.array)) continue;
        throw_arg(env(), true, fn_ + ": output '" + o.name + "' must not overlap input '" + i.name + "'");
      }
    }
  }

  double number(size_t i, const char* name) {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) throw_arg(env(), false, fn_ + ": argument '" + name + "' must be a number, got " + describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d))
      throw_arg(env(), true, fn_ + ": argument '" + name + "' must be finite, got " + std::to_string(d));
    return d;
  }
  // A scale factor that BLAS takes as a float: finite in float32 too (1e300 would become Infinity).
  float float32(size_t i, const char* name) {
    const double d = number(i, name);
    if (std::fabs(d) > (double)FLT_MAX)
      throw_arg(env(), true,
                fn_ + ": argument '" + name +
                    "' must be within the float32 range (|x| ≤ 3.4028234663852886e+38), got " + number_text(d));
    return (float)d;
  }
  double nonnegative(size_t i, const char* name) {
    const double d = number(i, name);
    if (d < 0) throw_arg(env(), true, fn_ + ": argument '" + name + "' must be ≥ 0, got " + std::to_string(d));
    return d;
  }
  // A matrix dimension: an integer in [1, 2^31 − 1].
  int64_t size(size_t i, const char* name) {
    const double d = number(i, name);
    if (d != std::floor(d) || d < 1 || d > (double)MAX_ELEMENTS)
      throw_arg(env(), true,
                fn_ + ": argument '" + name + "' must be an integer in [1, 2147483647], got " + number_text(d));
    return (int64_t)d;
  }
  bool boolean(size_t i, const char* name) {
    const Napi::Value v = info_[i];
    if (!v.IsBoolean())
      throw_arg(env(), false, fn_ + ": argument '" + name + "' must be a boolean, got " + describe(v));
    return v.As<Napi::Boolean>().Value();
  }
  Precision precision(size_t i) {
    const Napi::Value v = info_[i];
    const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (s == "float32") return Precision::f32;
    if (s == "float64") return Precision::f64;
    throw_arg(env(), false,
              fn_ + ": argument 'precision' must be 'float32' or 'float64', got " +
                  (v.IsString() ? "'" + s + "'" : describe(v)));
  }
  // a·b·… as an element count; RangeError when it exceeds what BLAS can index.
  int64_t product(std::initializer_list<int64_t> dims, const char* what) {
    int64_t p = 1;
    for (int64_t d : dims) {
      if (p > MAX_ELEMENTS / d)
        throw_arg(env(), true, fn_ + ": " + what + " has more than 2147483647 elements (32-bit BLAS limit)");
      p *= d;
    }
    return p;
  }
  // A typed array of the call's type with exactly `length` elements, not detached.
  Arr f32(size_t i, const char* name, int64_t length) { return f32(info_[i], name, length); }
  Arr f32(const Napi::Value& v, const std::string& name, int64_t length) {
    Napi::TypedArray a = typed_array(v, name);
    if ((int64_t)a.ElementLength() != length)
      throw_arg(env(), true,
                fn_ + ": argument '" + name + "' must have length " + std::to_string(length) + ", got " +
                    std::to_string(a.ElementLength()));
    return Arr{data_of(a), length, v, !a.ArrayBuffer().IsArrayBuffer(), false, dtype_};
  }
  Arr f64(size_t i, const std::string& name, int64_t length) {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw_arg(env(), false, fn_ + ": argument '" + name + "' must be a Float64Array, got " + describe(v));
    Napi::TypedArray a = v.As<Napi::TypedArray>();
    if (a.ArrayBuffer().IsDetached())
      throw_arg(env(), false, fn_ + ": argument '" + name + "' is backed by a detached ArrayBuffer");
    if ((int64_t)a.ElementLength() != length)
      throw_arg(env(), true,
                fn_ + ": argument '" + name + "' must have length " + std::to_string(length) + ", got " +
                    std::to_string(a.ElementLength()));
    return Arr{data_of(a), length, v, !a.ArrayBuffer().IsArrayBuffer(), false, DType::f64};
  }
  // An output: a typed array of the call's type of exactly `length` elements, or null / undefined for one
  // the call allocates, of the inputs' type (after its memory check: see prepare()).
  Arr f32_out(size_t i, const char* name, int64_t length) {
    const Napi::Value v = info_[i];
    if (v.IsNull() || v.IsUndefined()) return Arr{nullptr, length, Napi::Value(), false, true, dtype_};
    return f32(v, name, length);
  }
  // A typed array whose length is a positive multiple of `unit` (a matrix of `unit` rows); *width = length / unit.
  Arr f32_rows(const Napi::Value& v, const std::string& name, int64_t unit, const char* unit_text, int64_t* width) {
    Napi::TypedArray a = typed_array(v, name);
    const int64_t length = (int64_t)a.ElementLength();
    if (length == 0 || length % unit != 0)
      throw_arg(env(), true,
                fn_ + ": argument '" + name + "' must have a length that is a positive multiple of " + unit_text +
                    " = " + std::to_string(unit) + ", got " + std::to_string(length));
    if (length > MAX_ELEMENTS)
      throw_arg(env(), true, fn_ + ": argument '" + name + "' has more than 2147483647 elements (32-bit BLAS limit)");
    *width = length / unit;
    return Arr{data_of(a), length, v, !a.ArrayBuffer().IsArrayBuffer(), false, dtype_};
  }
  // A non-empty Array of at most `max` elements.
  Napi::Array array(size_t i, const char* name, uint32_t max) {
    const Napi::Value v = info_[i];
    if (!v.IsArray()) throw_arg(env(), false, fn_ + ": argument '" + name + "' must be an Array, got " + describe(v));
    Napi::Array a = v.As<Napi::Array>();
    if (a.Length() == 0 || a.Length() > max)
      throw_arg(env(), true,
                fn_ + ": argument '" + name + "' must hold 1 to " + std::to_string(max) + " elements, got " +
                    std::to_string(a.Length()));
    return a;
  }

 private:
  size_t pos(const char* name) const {
    for (size_t i = 0; i < params_->size(); ++i)
      if (std::strcmp((*params_)[i], name) == 0) return i;
    throw Napi::Error::New(env(), fn_ + ": no parameter '" + name + "' in its declared list (a bug in natgrad)");
  }
  void bind(Arr* a, Arr value, const char* name, Role role, const char* may_be = nullptr) {
    *a = value;
    arrays_->push_back(Binding{a, name, role, may_be});
  }
  // A Float32Array or (where allowed) Float64Array, of the same type as the call's first array.
  Napi::TypedArray typed_array(const Napi::Value& v, const std::string& name) {
    const napi_typedarray_type t = v.IsTypedArray() ? v.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
    const bool is32 = v.IsTypedArray() && t == napi_float32_array;
    const bool is64 = v.IsTypedArray() && t == napi_float64_array && allow_f64_;
    if (!is32 && !is64)
      throw_arg(env(), false,
                fn_ + ": argument '" + name + "' must be a " +
                    (allow_f64_ ? "Float32Array or Float64Array" : "Float32Array (this kernel has no float64 form)") +
                    ", got " + describe(v));
    const DType d = is64 ? DType::f64 : DType::f32;
    if (first_.empty()) {
      first_ = name;
      dtype_ = d;
    } else if (d != dtype_) {
      throw_arg(env(), false,
                fn_ + ": argument '" + name + "' must be a " + dtype_name(dtype_) + " like '" + first_ + "', got " +
                    describe(v) + " (a call's arrays are all float32 or all float64)");
    }
    Napi::TypedArray a = v.As<Napi::TypedArray>();
    if (a.ArrayBuffer().IsDetached())
      throw_arg(env(), false, fn_ + ": argument '" + name + "' is backed by a detached ArrayBuffer");
    return a;
  }

  static std::string number_text(double d) {
    if (d == std::floor(d) && std::fabs(d) < 1e18) return std::to_string((long long)d);
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", d);
    return text;
  }
  const Napi::CallbackInfo& info_;
  std::string fn_;
  const std::vector<const char*>* params_ = nullptr;
  std::vector<Binding>* arrays_ = nullptr;
  DType dtype_ = DType::f32;
  std::string first_;  // the first array's name: it sets the call's type
  bool allow_f64_ = true;
};

// Runs on the worker thread too: NaN/Inf inputs are refused before any BLAS call.
// A float is NaN or ±Infinity exactly when its exponent bits are all ones. The
// scan ORs that test over blocks of 4096 elements — integer compares the compiler
// vectorises (one clone per ISA, clones.h), 1.5× faster than an isfinite() loop
// with an early exit — and looks for the first offending index only inside a
// block that has one. Arrays of 4 MiB and more are split among natgrad's threads
// (a 2304² kernel: 20 MiB, 4 ms on one thread with SSE2 compares), each range
// reporting its first offending index; the lowest is the one named, as in a
// serial scan.
typedef uint32_t __attribute__((may_alias)) float_bits;
NATGRAD_CLONES_AVX512_HASWELL int64_t first_non_finite(const float* p, int64_t begin, int64_t end) {
  const float_bits* u = reinterpret_cast<const float_bits*>(p);
  constexpr int64_t BLOCK = 4096;
  for (int64_t b0 = begin; b0 < end; b0 += BLOCK) {
    const int64_t b1 = b0 + BLOCK < end ? b0 + BLOCK : end;
    uint32_t bad = 0;
    for (int64_t i = b0; i < b1; ++i) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
    if (!bad) continue;
    for (int64_t i = b0; i < b1; ++i)
      if (!std::isfinite(p[i])) return i;
  }
  return -1;
}
// The same for doubles: NaN or ±Infinity exactly when the 11 exponent bits are all ones.
typedef uint64_t __attribute__((may_alias)) double_bits;
NATGRAD_CLONES_AVX512_HASWELL int64_t first_non_finite(const double* p, int64_t begin, int64_t end) {
  const double_bits* u = reinterpret_cast<const double_bits*>(p);
  constexpr int64_t BLOCK = 2048;
  constexpr uint64_t EXP = 0x7ff0000000000000ull;
  for (int64_t b0 = begin; b0 < end; b0 += BLOCK) {
    const int64_t b1 = b0 + BLOCK < end ? b0 + BLOCK : end;
    uint64_t bad = 0;
    for (int64_t i = b0; i < b1; ++i) bad |= (u[i] & EXP) == EXP;
    if (!bad) continue;
    for (int64_t i = b0; i < b1; ++i)
      if (!std::isfinite(p[i])) return i;
  }
  return -1;
}
template <class T>
void check_finite(const std::string& fn, const char* name, const T* p, int64_t n) {
  constexpr int64_t kParallelFrom = int64_t(1) << 20, kChunk = int64_t(1) << 18;  // elements
  int64_t bad = -1;
  if (n >= kParallelFrom) {
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<int64_t> first(chunks, -1);
    natgrad::cpu::parallel_for(
        chunks, [&](int64_t c) { first[c] = first_non_finite(p, c * kChunk, std::min(n, (c + 1) * kChunk)); });
    for (int64_t c = 0; c < chunks && bad < 0; ++c) bad = first[c];
  } else {
    bad = first_non_finite(p, 0, n);
  }
  if (bad >= 0)
    natgrad::fail("ERR_NON_FINITE", fn + ": argument '" + name + "' contains " +
                                        (std::isnan(p[bad]) ? "NaN" : "Infinity") + " at index " + std::to_string(bad));
}

// One kernel call: parse() on the main thread, execute() anywhere, result() on the main thread.
// It carries what its environment chose (backend, threads, memory limit), so the work never reads
// another environment's state. Each kind declares, once: kName, kParams (the positional parameters,
// exported to JavaScript as addon.kernelArguments) and parse(), which reads them by name and binds
// every array it reads or writes (`arrays`, filled by Args).
struct Job {
  Backend* backend = nullptr;
  int threads = 0;
  int64_t memory_limit = natgrad::kNoLimit;
  std::string fn;
  std::vector<Binding> arrays;  // every array the kernel reads or writes, in parameter order
  DType dtype = DType::f32;     // of every array (Args::dtype, after parse)
  bool f64() const { return dtype == DType::f64; }
  virtual ~Job() = default;
  virtual void execute() = 0;                       // the backend kernel, on arrays already checked
  virtual Arr* returned() = 0;                      // the array the call returns (or whose call it is)
  virtual int64_t work_bytes() const { return 0; }  // host work buffers of the CPU kernel (cpu_kernels.h)
  virtual Napi::Value result(Napi::Env, Napi::Value out) { return out; }  // `out`: returned()'s array
};

// C[m,n] = alpha·op(A)·op(B) + beta·C
struct GemmJob : Job {
  static constexpr const char* kName = "gemm";
  static inline const std::vector<const char*> kParams = {"transA", "transB", "m", "n",    "k",
                                                          "alpha",  "A",      "B", "beta", "C"};
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  double alpha = 1, beta = 0;
  Arr A, B, C;
  void parse(Args& a) {
    ta = a.boolean("transA");
    tb = a.boolean("transB");
    m = a.size("m");
    n = a.size("n");
    k = a.size("k");
    a.in(&A, "A", a.product({m, k}, "A"));
    a.in(&B, "B", a.product({k, n}, "B"));
    alpha = a.scale("alpha");  // after the arrays: their type says float32 or float64
    beta = a.scale("beta");
    if (beta != 0)
      a.inout(&C, "C", a.product({m, n}, "C"));
    else
      a.out(&C, "C", a.product({m, n}, "C"));
  }
  Arr* returned() override { return &C; }
  int64_t work_bytes() const override { return f64() ? 0 : natgrad::cpu::gemm_work_bytes(m, k); }
  void execute() override {
    if (f64())
      backend->gemm64(ta, tb, m, n, k, alpha, A.d(), B.d(), beta, C.d());
    else
      backend->gemm(ta, tb, m, n, k, (float)alpha, A.f(), B.f(), (float)beta, C.f());
  }
};

// K = JᵀJ (J [P, M]) or J Jᵀ (samplesMajor: J [M, P]); accumulate: K += that (K given, symmetric)
struct GramJob : Job {
  static constexpr const char* kName = "gram";
  static inline const std::vector<const char*> kParams = {"J", "P", "M", "samplesMajor", "accumulate", "K"};
  int64_t P = 0, M = 0;
  bool samples_major = false, accumulate = false;
  Arr J, K;
  void parse(Args& a) {
    P = a.size("P");
    M = a.size("M");
    samples_major = a.boolean("samplesMajor");
    accumulate = a.boolean("accumulate");
    a.in(&J, "J", a.product({P, M}, "J"));
    if (accumulate)
      a.inout(&K, "K", a.product({M, M}, "K"));
    else
      a.out(&K, "K", a.product({M, M}, "K"));
  }
  Arr* returned() override { return &K; }
  // natgrad's gemm_nt packs the M rows of the operand, KC columns at a time (where it runs the triangle)
  int64_t work_bytes() const override { return f64() ? 0 : natgrad::cpu::gemm_work_bytes(M, P); }
  void execute() override {
    if (f64())
      backend->gram64(J.d(), P, M, samples_major, accumulate, K.d());
    else
      backend->gram(J.f(), P, M, samples_major, accumulate, K.f());
  }
};

// K += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1)
struct LayerGramJob : Job {
  static constexpr const char* kName = "layerGram";
  static inline const std::vector<const char*> kParams = {"B", "A", "N", "k", "widthOut", "widthIn", "K"};
  int64_t N = 0, k = 0, wo = 0, wi = 0;
  Arr B, A, K;
  void parse(Args& a) {
    N = a.size("N");
    k = a.size("k");
    wo = a.size("widthOut");
    wi = a.size("widthIn");
    const int64_t nk = a.product({N, k}, "B");
    a.in(&B, "B", a.product({nk, wo}, "B"));
    a.in(&A, "A", a.product({N, wi}, "A"));
    a.inout(&K, "K", a.product({nk, nk}, "K"));
  }
  Arr* returned() override { return &K; }
  int64_t work_bytes() const override {
    return f64() ? natgrad::cpu::layer_gram_sum64_work_bytes(N, k)
                 : natgrad::cpu::layer_gram_sum_work_bytes(&wo, 1, N, k);
  }
  void execute() override {
    if (f64())
      backend->layer_gram64(B.d(), A.d(), N, k, wo, wi, K.d());
    else
      backend->layer_gram(B.f(), A.f(), N, k, wo, wi, K.f());
  }
};

// K = Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1)
struct LayerGramSumJob : Job {
  static constexpr const char* kName = "layerGramSum";
  static inline const std::vector<const char*> kParams = {"bs", "as", "N", "k", "K"};
  static constexpr uint32_t kMaxLayers = 4096;
  int64_t N = 0, k = 0;
  std::vector<Arr> B, A;           // per layer
  std::vector<int64_t> wo, wi;     // per layer, from the lengths
  std::vector<std::string> names;  // "bs[l]", "as[l]" (the bindings keep pointers to them)
  Arr K;
  void parse(Args& a) {
    N = a.size("N");
    k = a.size("k");
    const int64_t nk = a.product({N, k}, "K");
    Napi::Array bs = a.array("bs", kMaxLayers), as = a.array("as", kMaxLayers);
    if (as.Length() != bs.Length())
      throw_arg(a.env(), true,
                a.fn() + ": arguments 'bs' and 'as' must hold one matrix per layer each, got " +
                    std::to_string(bs.Length()) + " and " + std::to_string(as.Length()));
    const uint32_t count = bs.Length();
    // Every element first: reading one can run JavaScript (a getter, a prototype's accessor for a
    // hole), which could detach or shrink an array read before it. No JavaScript runs after this
    // loop, so the data pointers taken below stay valid for the call.
    std::vector<Napi::Value> b_values(count), a_values(count);
    for (uint32_t l = 0; l < count; ++l) {
      b_values[l] = bs.Get(l);
      a_values[l] = as.Get(l);
    }
    names.reserve(2 * count);  // no reallocation: the bindings point into it
    for (uint32_t l = 0; l < count; ++l) {
      names.push_back("bs[" + std::to_string(l) + "]");
      names.push_back("as[" + std::to_string(l) + "]");
    }
    B.resize(count);
    A.resize(count);
    wo.resize(count);
    wi.resize(count);
    for (uint32_t l = 0; l < count; ++l) {
      a.in_rows(&B[l], b_values[l], names[2 * l], nk, "N·k", &wo[l]);
      a.in_rows(&A[l], a_values[l], names[2 * l + 1], N, "N", &wi[l]);
    }
    a.out(&K, "K", a.product({nk, nk}, "K"));
  }
  Arr* returned() override { return &K; }
  int64_t work_bytes() const override {
    return f64() ? natgrad::cpu::layer_gram_sum64_work_bytes(N, k)
                 : natgrad::cpu::layer_gram_sum_work_bytes(wo.data(), (int64_t)wo.size(), N, k);
  }
  void execute() override {
    if (f64()) {
      std::vector<natgrad::LayerFactors64> layers(B.size());
      for (size_t l = 0; l < B.size(); ++l) layers[l] = natgrad::LayerFactors64{B[l].d(), A[l].d(), wo[l], wi[l]};
      backend->layer_gram_sum64(layers.data(), (int64_t)layers.size(), N, k, false, K.d());
      return;
    }
    std::vector<natgrad::LayerFactors> layers(B.size());
    for (size_t l = 0; l < B.size(); ++l) layers[l] = natgrad::LayerFactors{B[l].f(), A[l].f(), wo[l], wi[l]};
    backend->layer_gram_sum(layers.data(), (int64_t)layers.size(), N, k, false, K.f());
  }
};

// The two solves of a damped symmetric system, X = (K + λI)^{-1} R: what they read alike.
struct SolveJob : Job {
  int64_t M = 0, nrhs = 0;
  double lambda = 0;
  Precision precision = Precision::f32;
  Arr K, R, X;
  void parse_sizes(Args& a) {
    M = a.size("M");
    nrhs = a.size("nrhs");
    lambda = a.nonnegative("damping");
  }
  void parse_inputs(Args& a) {
    a.in(&K, "K", a.product({M, M}, "K"));
    a.in(&R, "R", a.product({M, nrhs}, "R"));
  }
  void parse_output(Args& a) { a.out(&X, "X", a.product({M, nrhs}, "X"), /*may_be=*/"R"); }
  Arr* returned() override { return &X; }
};

// X = (K + λI)⁻¹ R by Cholesky
struct CholeskyJob : SolveJob {
  static constexpr const char* kName = "choleskySolve";
  static inline const std::vector<const char*> kParams = {"K", "M", "R", "nrhs", "damping", "precision", "X"};
  void parse(Args& a) {
    parse_sizes(a);
    precision = a.precision("precision");
    parse_inputs(a);
    parse_output(a);
  }
  // Float64Array arrays always factor in float64 ('precision' is for float32 ones)
  int64_t work_bytes() const override {
    return natgrad::cpu::cholesky_solve_work_bytes(M, nrhs, f64() ? Precision::f64 : precision);
  }
  void execute() override {
    if (f64())
      backend->cholesky_solve64(K.d(), M, R.d(), nrhs, lambda, X.d());
    else
      backend->cholesky_solve(K.f(), M, R.f(), nrhs, lambda, precision, X.f());
  }
};

// X = (K + λI)⁺ R by eigendecomposition
struct PinvJob : SolveJob {
  static constexpr const char* kName = "pinvSolve";
  static inline const std::vector<const char*> kParams = {"K", "M", "R", "nrhs", "damping", "rcond", "precision", "X"};
  int64_t rank = 0;
  double rcond = 0;
  void parse(Args& a) {
    parse_sizes(a);
    rcond = a.nonnegative("rcond");
    precision = a.precision("precision");
    parse_inputs(a);
    if (M > natgrad::cpu::kMaxSyevdOrder)
      throw_arg(a.env(), true,
                a.fn() + ": M = " + std::to_string(M) + " is past LAPACK's 32-bit limit for the " +
                    "eigendecomposition (syevd needs a workspace of 1 + 6M + 2M² = " +
                    std::to_string(natgrad::cpu::syevd_lwork(M)) + " elements; at most 2147483647, " + "so M ≤ " +
                    std::to_string(natgrad::cpu::kMaxSyevdOrder) + "); use choleskySolve with damping > 0 (M ≤ 46340)");
    parse_output(a);
  }
  int64_t work_bytes() const override {
    return natgrad::cpu::pinv_solve_work_bytes(M, nrhs, f64() ? Precision::f64 : precision);
  }
  void execute() override {
    rank = f64() ? backend->pinv_solve64(K.d(), M, R.d(), nrhs, lambda, rcond, X.d())
                 : backend->pinv_solve(K.f(), M, R.f(), nrhs, lambda, rcond, precision, X.f());
  }
  // The rank; with X passed as null, { x, rank } (the X the call allocated).
  Napi::Value result(Napi::Env env, Napi::Value x) override {
    if (!X.fresh) return Napi::Number::New(env, (double)rank);
    Napi::Object o = Napi::Object::New(env);
    o.Set("x", x);
    o.Set("rank", Napi::Number::New(env, (double)rank));
    return o;
  }
};

// out[b] = (G_bᵀ G_b + λI)⁻¹
struct BatchedGramInverseJob : Job {
  static constexpr const char* kName = "batchedGramInverse";
  static inline const std::vector<const char*> kParams = {"G", "batch", "rows", "k", "damping", "out"};
  int64_t batch = 0, rows = 0, k = 0;
  double lambda = 0;
  Arr G, out;
  void parse(Args& a) {
    batch = a.size("batch");
    rows = a.size("rows");
    k = a.size("k");
    if (k > 256)
      throw_arg(a.env(), true,
                a.fn() + ": argument 'k' must be ≤ 256 (small per-sample blocks), got " + std::to_string(k));
    lambda = a.nonnegative("damping");
    a.float32_only();
    a.in(&G, "G", a.product({batch, rows, k}, "G"));
    a.out(&out, "out", a.product({batch, k, k}, "out"));
  }
  Arr* returned() override { return &out; }
  void execute() override { backend->batched_gram_inverse(G.f(), batch, rows, k, lambda, out.f()); }
};

// An activation layer's kind, by its name in lib/nn/layers.ts.
natgrad::cpu::Activation activation_kind(Args& a) {
  static const char* const names[] = {"tanh", "relu", "sigmoid", "softplus", "gelu"};
  const Napi::Value v = a.value("kind");
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  for (int i = 0; i < 5; ++i)
    if (s == names[i]) return (natgrad::cpu::Activation)i;
  throw_arg(a.env(), false,
            a.fn() + ": argument 'kind' must be 'tanh', 'relu', 'sigmoid', 'softplus' or 'gelu', got " +
                (v.IsString() ? "'" + s + "'" : describe(v)));
}

// a = σ(z) for n elements. The activation passes run on the CPU on every backend (the arrays are the
// host's; only exact_step keeps a whole step on a device), so these jobs call the CPU kernels directly.
struct ActivationForwardJob : Job {
  static constexpr const char* kName = "activationForward";
  static inline const std::vector<const char*> kParams = {"kind", "z", "n", "a"};
  natgrad::cpu::Activation kind{};
  int64_t n = 0;
  Arr z, out;
  void parse(Args& a) {
    kind = activation_kind(a);
    n = a.size("n");
    a.in(&z, "z", n);
    a.out(&out, "a", n, "z");
  }
  Arr* returned() override { return &out; }
  void execute() override {
    if (f64())
      natgrad::cpu::activation_forward(kind, z.d(), n, out.d());
    else
      natgrad::cpu::activation_forward(kind, z.f(), n, out.f());
  }
};

// b[i·r + m, c] *= σ'(z[i, c]) for z [N, width], b [N·r, width] (∂/∂z = ∂/∂a ⊙ σ'(z) for r seed rows per sample)
struct ActivationBackwardJob : Job {
  static constexpr const char* kName = "activationBackward";
  static inline const std::vector<const char*> kParams = {"kind", "z", "N", "r", "width", "b"};
  natgrad::cpu::Activation kind{};
  int64_t N = 0, r = 0, width = 0;
  Arr z, b;
  void parse(Args& a) {
    kind = activation_kind(a);
    N = a.size("N");
    r = a.size("r");
    width = a.size("width");
    a.in(&z, "z", a.product({N, width}, "z"));
    a.inout(&b, "b", a.product({N, r, width}, "b"));
  }
  Arr* returned() override { return &b; }
  void execute() override {
    if (f64())
      natgrad::cpu::activation_backward(kind, z.d(), N, r, width, b.d());
    else
      natgrad::cpu::activation_backward(kind, z.f(), N, r, width, b.f());
  }
};

// Bc[i, :] = Σ_m c[i·r + m] B[i·r + m, :] and sum = Σ_i Bc[i, :] (float64), B [N·r, width]: rows.cc
struct RowsContractJob : Job {
  static constexpr const char* kName = "rowsContract";
  static inline const std::vector<const char*> kParams = {"B", "c", "N", "r", "width", "Bc", "sum"};
  int64_t N = 0, r = 0, width = 0;
  Arr B, c, Bc, sum;
  void parse(Args& a) {
    N = a.size("N");
    r = a.size("r");
    width = a.size("width");
    a.in(&B, "B", a.product({N, r, width}, "B"));
    a.in64(&c, "c", a.product({N, r}, "c"));
    a.out(&Bc, "Bc", a.product({N, width}, "Bc"));
    a.out64(&sum, "sum", width);
  }
  Arr* returned() override { return &Bc; }
  void execute() override {
    if (f64())
      natgrad::cpu::rows_contract(B.d(), c.d(), N, r, width, Bc.d(), sum.d());
    else
      natgrad::cpu::rows_contract(B.f(), c.d(), N, r, width, Bc.f(), sum.d());
  }
};

// true when every element of x is finite; otherwise ERR_NON_FINITE naming the first offending index, from the
// scan every kernel runs on what it reads (check_finite above: vectorised, split among the threads from 1 Mi
// elements), which is all this kernel does: the forward pass's check of each layer's output
// (lib/nn/sequential.ts) at memory speed instead of a JavaScript loop.
struct AllFiniteJob : Job {
  static constexpr const char* kName = "allFinite";
  static inline const std::vector<const char*> kParams = {"x", "length"};
  Arr x;
  void parse(Args& a) { a.in(&x, "x", a.size("length")); }
  Arr* returned() override { return &x; }
  void execute() override {}
  Napi::Value result(Napi::Env env, Napi::Value) override { return Napi::Boolean::New(env, true); }
};

// out[i·r + m] += B[i·r + m, :] · Z[i, :] (float64), B [N·r, width], Z [N, width]: rows.cc
struct RowsDotJob : Job {
  static constexpr const char* kName = "rowsDot";
  static inline const std::vector<const char*> kParams = {"B", "Z", "N", "r", "width", "out"};
  int64_t N = 0, r = 0, width = 0;
  Arr B, Z, out;
  void parse(Args& a) {
    N = a.size("N");
    r = a.size("r");
    width = a.size("width");
    a.in(&B, "B", a.product({N, r, width}, "B"));
    a.in(&Z, "Z", a.product({N, width}, "Z"));
    a.inout64(&out, "out", a.product({N, r}, "out"));
  }
  Arr* returned() override { return &out; }
  void execute() override {
    if (f64())
      natgrad::cpu::rows_dot(B.d(), Z.d(), N, r, width, out.d());
    else
      natgrad::cpu::rows_dot(B.f(), Z.f(), N, r, width, out.d());
  }
};

// A conv2d layer's geometry {C, H, W, kh, kw, stride, padding} (argument 'geometry'), with its output size.
natgrad::cpu::ConvGeometry conv_geometry(Args& a) {
  const std::string fn = a.fn();
  Napi::Array list = a.array("geometry", 7);
  static const char* const names[] = {"C", "H", "W", "kh", "kw", "stride", "padding"};
  int64_t v[7];
  if (list.Length() != 7)
    throw_arg(a.env(), true,
              fn + ": argument 'geometry' must be [C, H, W, kh, kw, stride, padding], got " +
                  std::to_string(list.Length()) + " numbers");
  for (uint32_t i = 0; i < 7; ++i) {
    const Napi::Value e = list.Get(i);
    const double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    const double least = i == 6 ? 0 : 1;
    if (!(d == std::floor(d)) || d < least || d > 1e6) {
      char text[32];
      std::snprintf(text, sizeof text, "%.9g", d);
      throw_arg(a.env(), true,
                fn + ": argument 'geometry' must be [C, H, W, kh, kw, stride, padding] (integers, padding ≥ 0, the " +
                    "others ≥ 1, each ≤ 1e6); " + names[i] + " is " +
                    (i >= list.Length() ? std::string("missing")
                     : e.IsNumber()     ? std::string(text)
                                        : describe(e)));
    }
    v[i] = (int64_t)d;
  }
  natgrad::cpu::ConvGeometry g{v[0], v[1], v[2], v[3], v[4], v[5], v[6], 0, 0};
  g.ho = (g.h + 2 * g.pad - g.kh) / g.stride + 1;
  g.wo = (g.w + 2 * g.pad - g.kw) / g.stride + 1;
  if (g.h + 2 * g.pad < g.kh || g.w + 2 * g.pad < g.kw)
    throw_arg(a.env(), true,
              fn + ": the kernel " + std::to_string(g.kh) + "×" + std::to_string(g.kw) + " (padding " +
                  std::to_string(g.pad) + ") does not fit the input " + std::to_string(g.h) + "×" +
                  std::to_string(g.w));
  return g;
}

// cols [n·Ho·Wo, C·kh·kw]: every sample's patches (cpu/conv2d.cc)
struct Im2colJob : Job {
  static constexpr const char* kName = "im2col";
  static inline const std::vector<const char*> kParams = {"x", "n", "geometry", "cols"};
  natgrad::cpu::ConvGeometry g{};
  int64_t n = 0;
  Arr x, cols;
  void parse(Args& a) {
    n = a.size("n");
    g = conv_geometry(a);
    a.in(&x, "x", a.product({n, g.c, g.h, g.w}, "x"));
    a.out(&cols, "cols", a.product({n, g.ho, g.wo, g.c, g.kh, g.kw}, "cols"));
  }
  Arr* returned() override { return &cols; }
  void execute() override {
    if (f64())
      natgrad::cpu::im2col(x.d(), n, g, cols.d());
    else
      natgrad::cpu::im2col(x.f(), n, g, cols.f());
  }
};

// dx [rows, C·H·W]: the seeds dy [rows, cout, Ho·Wo] at a conv2d layer's output taken to its input,
// col2im(Wᵀ dy_q) row by row, W [cout, C·kh·kw] (cpu/conv2d.cc)
struct Conv2dInputSeedsJob : Job {
  static constexpr const char* kName = "conv2dInputSeeds";
  static inline const std::vector<const char*> kParams = {"w", "dy", "rows", "outChannels", "geometry", "dx"};
  natgrad::cpu::ConvGeometry g{};
  int64_t rows = 0, cout = 0;
  Arr w, dy, dx;
  void parse(Args& a) {
    rows = a.size("rows");
    cout = a.size("outChannels");
    g = conv_geometry(a);
    a.in(&w, "w", a.product({cout, g.c, g.kh, g.kw}, "w"));
    a.in(&dy, "dy", a.product({rows, cout, g.ho, g.wo}, "dy"));
    a.out(&dx, "dx", a.product({rows, g.c, g.h, g.w}, "dx"));
  }
  Arr* returned() override { return &dx; }
  void execute() override {
    if (f64())
      natgrad::cpu::conv2d_input_seeds(w.d(), dy.d(), rows, cout, g, dx.d());
    else
      natgrad::cpu::conv2d_input_seeds(w.f(), dy.f(), rows, cout, g, dx.f());
  }
};

// y [n, cout, Ho·Wo]: a conv2d layer's forward pass from its patches, y_i = b + W · cols_iᵀ, theta = [W, b]
// (cpu/conv2d.cc)
struct Conv2dForwardJob : Job {
  static constexpr const char* kName = "conv2dForward";
  static inline const std::vector<const char*> kParams = {"cols", "theta", "n", "outChannels", "geometry", "y"};
  natgrad::cpu::ConvGeometry g{};
  int64_t n = 0, cout = 0;
  Arr cols, theta, y;
  void parse(Args& a) {
    n = a.size("n");
    cout = a.size("outChannels");
    g = conv_geometry(a);
    a.in(&cols, "cols", a.product({n, g.ho, g.wo, g.c, g.kh, g.kw}, "cols"));
    a.in(&theta, "theta", a.product({cout, g.c * g.kh * g.kw + 1}, "theta"));
    a.out(&y, "y", a.product({n, cout, g.ho, g.wo}, "y"));
  }
  Arr* returned() override { return &y; }
  void execute() override {
    if (f64())
      natgrad::cpu::conv2d_forward(cols.d(), theta.d(), n, cout, g, y.d());
    else
      natgrad::cpu::conv2d_forward(cols.f(), theta.f(), n, cout, g, y.f());
  }
};

// grads [n·r, cout·C·kh·kw + cout]: a conv2d layer's per-row parameter gradients [dy_q · cols_i, Σ_p dy_q]
// from the seeds dy [n·r, cout, Ho·Wo] at its output and its patches (cpu/conv2d.cc)
struct Conv2dGradientsJob : Job {
  static constexpr const char* kName = "conv2dGradients";
  static inline const std::vector<const char*> kParams = {"dy", "cols", "n", "r", "outChannels", "geometry", "grads"};
  natgrad::cpu::ConvGeometry g{};
  int64_t n = 0, r = 0, cout = 0;
  Arr dy, cols, grads;
  void parse(Args& a) {
    n = a.size("n");
    r = a.size("r");
    cout = a.size("outChannels");
    g = conv_geometry(a);
    a.in(&dy, "dy", a.product({n, r, cout, g.ho, g.wo}, "dy"));
    a.in(&cols, "cols", a.product({n, g.ho, g.wo, g.c, g.kh, g.kw}, "cols"));
    a.out(&grads, "grads", a.product({n, r, cout, g.c * g.kh * g.kw + 1}, "grads"));
  }
  Arr* returned() override { return &grads; }
  void execute() override {
    if (f64())
      natgrad::cpu::conv2d_gradients(dy.d(), cols.d(), n, r, cout, g, grads.d());
    else
      natgrad::cpu::conv2d_gradients(dy.f(), cols.f(), n, r, cout, g, grads.f());
  }
};

// A pooling layer's mode ('max' | 'avg') and shape [C, H, W, k] (arguments 'mode', 'shape').
bool pool_max(Args& a) {
  const Napi::Value v = a.value("mode");
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s != "max" && s != "avg")
    throw_arg(a.env(), false,
              a.fn() + ": argument 'mode' must be 'max' or 'avg', got " + (v.IsString() ? "'" + s + "'" : describe(v)));
  return s == "max";
}
natgrad::cpu::PoolGeometry pool_geometry(Args& a) {
  const std::string fn = a.fn();
  Napi::Array list = a.array("shape", 4);
  if (list.Length() != 4)
    throw_arg(a.env(), true,
              fn + ": argument 'shape' must be [C, H, W, k], got " + std::to_string(list.Length()) + " numbers");
  int64_t v[4];
  for (uint32_t i = 0; i < 4; ++i) {
    const Napi::Value e = list.Get(i);
    const double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d == std::floor(d)) || d < 1 || d > 1e6)
      throw_arg(a.env(), true,
                fn + ": argument 'shape' must be [C, H, W, k], integers in [1, 1e6]; got " + describe(e) + " at " +
                    std::to_string(i));
    v[i] = (int64_t)d;
  }
  natgrad::cpu::PoolGeometry g{v[0], v[1], v[2], v[3], v[1] / v[3], v[2] / v[3]};
  if (g.ho < 1 || g.wo < 1)
    throw_arg(a.env(), true,
              fn + ": the window " + std::to_string(g.k) + "×" + std::to_string(g.k) + " does not fit the input " +
                  std::to_string(g.h) + "×" + std::to_string(g.w));
  return g;
}

// y [n, C·Ho·Wo]: a pooling layer's forward pass (cpu/pool2d.cc)
struct Pool2dForwardJob : Job {
  static constexpr const char* kName = "pool2dForward";
  static inline const std::vector<const char*> kParams = {"mode", "x", "n", "shape", "y"};
  bool max = true;
  natgrad::cpu::PoolGeometry g{};
  int64_t n = 0;
  Arr x, y;
  void parse(Args& a) {
    max = pool_max(a);
    n = a.size("n");
    g = pool_geometry(a);
    a.in(&x, "x", a.product({n, g.c, g.h, g.w}, "x"));
    a.out(&y, "y", a.product({n, g.c, g.ho, g.wo}, "y"));
  }
  Arr* returned() override { return &y; }
  void execute() override {
    if (f64())
      natgrad::cpu::pool2d_forward(max, x.d(), n, g, y.d());
    else
      natgrad::cpu::pool2d_forward(max, x.f(), n, g, y.f());
  }
};

// dx [n·r, C·H·W]: a pooling layer's seeds taken to its input, r rows per sample (cpu/pool2d.cc)
struct Pool2dBackwardJob : Job {
  static constexpr const char* kName = "pool2dBackward";
  static inline const std::vector<const char*> kParams = {"mode", "x", "dy", "n", "r", "shape", "dx"};
  bool max = true;
  natgrad::cpu::PoolGeometry g{};
  int64_t n = 0, r = 0;
  Arr x, dy, dx;
  void parse(Args& a) {
    max = pool_max(a);
    n = a.size("n");
    r = a.size("r");
    g = pool_geometry(a);
    a.in(&x, "x", a.product({n, g.c, g.h, g.w}, "x"));
    a.in(&dy, "dy", a.product({n, r, g.c, g.ho, g.wo}, "dy"));
    a.out(&dx, "dx", a.product({n, r, g.c, g.h, g.w}, "dx"));
  }
  Arr* returned() override { return &dx; }
  void execute() override {
    if (f64())
      natgrad::cpu::pool2d_backward(max, x.d(), dy.d(), n, r, g, dx.d());
    else
      natgrad::cpu::pool2d_backward(max, x.f(), dy.f(), n, r, g, dx.f());
  }
};

// n_θ for an MLP in one call (Backend::exact_step: every stage on the GPU, or on the CPU backend's kernels)
struct ExactStepJob : Job {
  static constexpr const char* kName = "exactStep";
  static inline const std::vector<const char*> kParams = {"layers", "family",  "theta", "x",  "y",
                                                          "N",      "damping", "rcond", "lr", "direction"};
  static constexpr uint32_t kMaxLayers = 4096;
  std::vector<int32_t> layers;
  natgrad::ExactStepSpec spec;
  natgrad::ExactStepResult res;
  Arr theta, x, y, direction;
  void parse(Args& a) {
    const std::string fn = a.fn();
    Napi::Array list = a.array("layers", 3 * kMaxLayers);
    if (list.Length() % 3 != 0)
      throw_arg(a.env(), true,
                fn + ": argument 'layers' must hold {kind, width in, width out} per layer, got " +
                    std::to_string(list.Length()) + " numbers");
    std::vector<Napi::Value> values(list.Length());  // every element first (a getter may run JavaScript)
    for (uint32_t i = 0; i < list.Length(); ++i) values[i] = list.Get(i);
    layers.resize(values.size());
    int64_t P = 0, prev = -1, linear = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      const double d = values[i].IsNumber() ? values[i].As<Napi::Number>().DoubleValue() : NAN;
      const bool kind = i % 3 == 0;
      if (!(d == std::floor(d)) || (kind ? (d < -1 || d > 4) : (d < 1 || d > MAX_ELEMENTS)))
        throw_arg(a.env(), true,
                  fn + ": argument 'layers' [" + std::to_string(i) + "] must be " +
                      (kind ? "a layer kind (−1 linear, 0 tanh, 1 relu, 2 sigmoid, 3 softplus, 4 gelu)"
                            : "a width in [1, 2147483647]") +
                      ", got " + describe(values[i]));
      layers[i] = (int32_t)d;
    }
    for (size_t l = 0; l < layers.size() / 3; ++l) {
      const int64_t kind = layers[3 * l], wi = layers[3 * l + 1], wo = layers[3 * l + 2];
      if (prev >= 0 && wi != prev)
        throw_arg(a.env(), true,
                  fn + ": argument 'layers': layer " + std::to_string(l) + " takes " + std::to_string(wi) +
                      " inputs, but the layer before gives " + std::to_string(prev));
      if (kind >= 0 && wi != wo)
        throw_arg(a.env(), true,
                  fn + ": argument 'layers': layer " + std::to_string(l) + " is an activation, so its widths in and " +
                      "out must be equal, got " + std::to_string(wi) + " and " + std::to_string(wo));
      if (kind < 0) {
        P += a.product({wi + 1, wo}, "the parameters");
        ++linear;
      }
      prev = wo;
    }
    if (linear == 0) throw_arg(a.env(), true, fn + ": argument 'layers' has no linear layer (no parameters)");
    const Napi::Value fam = a.value("family");
    const std::string family = fam.IsString() ? fam.As<Napi::String>().Utf8Value() : "";
    spec.k = prev;
    spec.family = family == "gaussian" ? 0 : family == "categorical" ? 1 : family == "bernoulli" ? 2 : -1;
    if (spec.family < 0)
      throw_arg(a.env(), false,
                fn + ": argument 'family' must be 'gaussian', 'categorical' or 'bernoulli', got " + describe(fam));
    if ((spec.family == 1 && spec.k < 2) || (spec.family == 2 && spec.k != 1))
      throw_arg(a.env(), true,
                fn + ": the last layer's width " + std::to_string(spec.k) + " does not fit a " + family + " output (" +
                    (spec.family == 1 ? "≥ 2 logits" : "one logit") + ")");
    spec.r = spec.family == 0 ? spec.k : spec.family == 1 ? spec.k - 1 : 1;
    spec.y_width = spec.family == 0 ? spec.k : 1;
    spec.N = a.size("N");
    spec.in_width = layers[1];
    spec.count = (int64_t)layers.size() / 3;
    spec.layers = layers.data();
    spec.P = P;
    const int64_t M = a.product({spec.N, spec.r}, "the kernel's order N·r");
    a.product({M, M}, "the kernel K [N·r, N·r]");
    spec.damping = a.nonnegative("damping");
    spec.rcond = a.nonnegative("rcond");
    spec.lr = a.nonnegative("lr");
    a.float32_only();
    a.in(&theta, "theta", P);
    a.in(&x, "x", a.product({spec.N, spec.in_width}, "x"));
    a.in(&y, "y", a.product({spec.N, spec.y_width}, "y"));
    a.out(&direction, "direction", P);
    for (int64_t i = 0; spec.family > 0 && i < spec.N; ++i) {  // the device reads them as indices: check here
      const float v = y.f()[i];
      char text[32];
      std::snprintf(text, sizeof text, "%.9g", (double)v);
      if (spec.family == 1 ? !(v == std::floor(v) && v >= 0 && v < (float)spec.k) : !(v == 0 || v == 1))
        throw_arg(a.env(), true,
                  fn + ": 'y[" + std::to_string(i) + "]' is " + text + "; " +
                      (spec.family == 1 ? "categorical targets must be class indices 0…" + std::to_string(spec.k - 1)
                                        : std::string("bernoulli targets must be 0 or 1")));
    }
  }
  // the CPU step's arena and largest kernel workspace (cpu/exact_step.cc); the CUDA step's live on the device
  int64_t work_bytes() const override { return natgrad::cpu::exact_step_work_bytes(spec); }
  Arr* returned() override { return &direction; }
  void execute() override {
    spec.layers = layers.data();
    spec.theta = theta.f();
    spec.x = x.f();
    spec.y = y.f();
    spec.direction = direction.f();
    backend->exact_step(spec, &res);
  }
  // { direction, loss, trialLoss, gn, nFn, rank (−1 unless λ = 0), deviceMs: { upload, forward, … } }
  Napi::Value result(Napi::Env env, Napi::Value dir) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("direction", dir);
    o.Set("loss", res.loss);
    o.Set("trialLoss", res.trial_loss);
    o.Set("gn", res.gn);
    o.Set("nFn", res.nfn);
    o.Set("rank", (double)res.rank);
    Napi::Object ms = Napi::Object::New(env);
    const char* names[] = {"upload", "forward", "backprop", "kernel", "solve", "update"};
    for (int i = 0; i < 6; ++i) ms.Set(names[i], res.ms[i]);
    o.Set("deviceMs", ms);
    return o;
  }
};

void execute_job(Job& job) {
  natgrad::cpu::CallThreads threads(job.threads);
  natgrad::CallMemoryLimit limit(job.memory_limit);  // for a kernel's own later checks (pinvSolve's float64 retry)
  try {
    for (const Binding& b : job.arrays) {  // NaN/Inf in what the kernel reads is refused before any BLAS call
      if (b.role == Role::out) continue;
      const Arr& a = *b.array;
      if (a.dtype == DType::f64)
        check_finite(job.fn, b.name, a.d(), a.length);
      else
        check_finite(job.fn, b.name, a.f(), a.length);
    }
    job.execute();
  } catch (const std::bad_alloc&) {
    natgrad::fail("ERR_OUT_OF_MEMORY", job.fn + ": out of memory for the work buffers");
  }
}

// Main thread, after parse(): what the call will allocate — the outputs passed as null, the CPU
// kernel's work buffers and, in the Promise form, the private copies of the arrays — is checked
// against the memory available (memory.h) before anything is allocated; then the outputs are made.
// Throws natgrad::Error ERR_OUT_OF_MEMORY naming the bytes.
void prepare(Napi::Env env, Job& job, bool promise_form) {
  int64_t outputs = 0, copies = 0;
  std::vector<const Arr*> copied;
  for (const Binding& b : job.arrays) {
    const Arr& a = *b.array;
    if (a.fresh) {
      outputs += a.bytes();
    } else if (promise_form && !a.shared) {
      bool again = false;  // the same array bound twice is copied once (Snapshot)
      for (const Arr* c : copied) again |= c->same(a);
      if (!again) copies += a.bytes();
      copied.push_back(&a);
    }
  }
  // (float64 kernels run on the CPU on every backend: backend.h)
  const int64_t work = job.backend->host_workspace() || job.f64() ? job.work_bytes() : 0;
  const int64_t total = outputs + copies + work;
  if (total >= natgrad::kCheckBytes) {
    std::string what = "output " + natgrad::bytes_text(outputs) + ", work buffers " + natgrad::bytes_text(work);
    if (promise_form) what += ", private copies of the arrays " + natgrad::bytes_text(copies);
    natgrad::require_memory(job.fn, total, what, job.memory_limit);
  }
  for (const Binding& b : job.arrays) {
    Arr& a = *b.array;
    if (!a.fresh || a.data) continue;
    Napi::TypedArray t;
    try {
      if (a.dtype == DType::f64) {
        Napi::Float64Array t64 = Napi::Float64Array::New(env, (size_t)a.length);
        a.data = t64.Data();
        t = t64;
      } else {
        Napi::Float32Array t32 = Napi::Float32Array::New(env, (size_t)a.length);
        a.data = t32.Data();
        t = t32;
      }
    } catch (const Napi::Error& e) {  // V8 could not allocate it after all (ArrayBuffer allocation failed)
      natgrad::fail("ERR_OUT_OF_MEMORY", job.fn + ": could not allocate output '" + b.name + "' (" +
                                             natgrad::bytes_text(a.bytes()) + "): " + e.Message());
    }
    a.value = t;
  }
}

// ---- Async calls and the lifetime of array memory ----------------------------------------
// A Promise-form call runs while JavaScript keeps running, and JavaScript can take an
// ArrayBuffer's memory away from under it. structuredClone(buf, { transfer: [buf] }) and
// postMessage(…, [buf]) detach `buf` and hand its backing store to the new owner, which
// frees it when it is collected: with the typed array used in place, the worker then reads
// or writes freed memory (ASan: heap-use-after-free in check_finite; OpenBLAS, which is not
// instrumented, corrupts the heap silently). resize() of a resizable ArrayBuffer decommits
// the pages past the new length: SIGSEGV in the worker. A Reference to the typed array keeps
// the JavaScript object alive, not its memory, and Node-API has no way to pin a backing store.
//
// So the Promise form works on private copies. On the main thread, before the call returns,
// every input (and every array that is read and written) is copied into memory the call owns;
// the kernel runs there; at completion, on the main thread, each output is copied into the
// caller's array after checking that it still has its memory — if not, the promise rejects
// with ERR_INVALID_STATE and nothing is written. Inputs are therefore read when the call is
// made (later changes do not affect it) and outputs are written all at once when it settles
// (nothing when it fails). Arrays backed by a SharedArrayBuffer are used in place (zero copy):
// a SharedArrayBuffer can be neither detached nor shrunk, and the Reference keeps it alive;
// writing to one while a call uses it is the caller's data race, not a memory error.
// Cost: one memcpy per array on the main thread (~0.1 ms per MiB), and the copies' memory.
// The copies come from the CPU kernels' scratch pool (native/scratch.h): a large block released by
// one call is reused by the next instead of being page-faulted in again (~0.4 ms per MiB).
using Floats = std::unique_ptr<natgrad::Scratch<float>>;

class Snapshot {
 public:
  // Main thread: copies the job's arrays (except SharedArrayBuffer-backed ones) and points the job at the copies.
  void take(Job& job) {
    for (const Binding& b : job.arrays) {
      Arr& a = *b.array;
      if (a.in_place()) continue;
      Entry* same = nullptr;  // the same array bound twice (choleskySolve's X may be R): one copy
      for (Entry& e : entries_)
        if (e.source == a.data && e.bytes == a.bytes()) same = &e;
      if (!same) {
        // (floats of scratch: 4-byte units, 64-byte aligned blocks, so doubles fit too)
        entries_.push_back(Entry{a.data, a.bytes(), b.name, false, false,
                                 std::make_unique<natgrad::Scratch<float>>((a.bytes() + 3) / 4),
                                 Napi::Persistent(a.value)});
        same = &entries_.back();
      }
      if (b.role != Role::out && !same->filled) {
        std::memcpy(same->copy->get(), a.data, (size_t)a.bytes());
        same->filled = true;
      }
      if (b.role != Role::in) same->write_back = true;
      a.data = same->copy->get();
    }
  }
  // Main thread, at completion: copies the outputs into the caller's arrays. Returns nullptr, or
  // (writing nothing) the name of an output whose array lost its memory while the call ran.
  const char* give_back() {
    for (Entry& e : entries_)
      if (e.write_back && !alive(e)) return e.name;
    for (Entry& e : entries_)
      if (e.write_back) std::memcpy(data_of(e), e.copy->get(), (size_t)e.bytes);
    return nullptr;
  }

 private:
  struct Entry {
    const void* source;  // the caller's memory when the call was made (identity only, never read later)
    int64_t bytes;
    const char* name;
    bool filled;      // holds the caller's values (an input, or an output that is also read)
    bool write_back;  // an output: copied back at completion
    Floats copy;
    Napi::Reference<Napi::Value> ref;
  };
  static bool alive(Entry& e) {
    Napi::TypedArray t = e.ref.Value().As<Napi::TypedArray>();
    return !t.ArrayBuffer().IsDetached() && (int64_t)t.ByteLength() >= e.bytes && ::data_of(t) != nullptr;
  }
  static void* data_of(Entry& e) { return ::data_of(e.ref.Value().As<Napi::TypedArray>()); }
  std::vector<Entry> entries_;
};

// A pending promise whose resolve and reject functions are kept as references. Not a Node-API deferred:
// a deferred that is never settled (its environment went away first) leaks the handle that
// napi_create_promise allocates (valgrind: 8 bytes for each call dropped at a Worker's teardown),
// while a reference is released without JavaScript.
class Settlers {
 public:
  Napi::Promise make(Napi::Env env) {
    Napi::Function executor = Napi::Function::New(env, [this](const Napi::CallbackInfo& info) {
      resolve_ = Napi::Persistent(info[0].As<Napi::Function>());
      reject_ = Napi::Persistent(info[1].As<Napi::Function>());
    });
    return env_state(env).promise.New({executor}).As<Napi::Promise>();
  }
  void resolve(Napi::Value v) { resolve_.Call({v}); }
  void reject(Napi::Value v) { reject_.Call({v}); }

 private:
  Napi::FunctionReference resolve_, reject_;
};

// The Promise form's worker. Completion is safe when the environment is going away: a Worker that is
// terminate()d, calls process.exit() or throws while calls are in flight. Node waits for the work to
// finish and then completes it with JavaScript disabled; settling the promise then fails, and
// node-addon-api's default completion turns that failure into a C++ exception thrown out of a
// Node-API callback: std::terminate, the whole process aborted (rc 134). Here a completion that cannot
// reach JavaScript drops the result: the kernel's buffers (job, private copies) are freed as usual by
// Destroy(); only the environment's own unsettled promise object is left to its teardown.
class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, std::unique_ptr<Job> job, Snapshot snapshot)
      : Napi::AsyncWorker(env, "natgrad"),
        job_(std::move(job)),
        snapshot_(std::move(snapshot)),
        promise_(Napi::Persistent(Napi::Value(settlers_.make(env)))) {
    // the arrays stay alive (not their memory: see above) until the call settles
    for (const Binding& b : job_->arrays) refs_.push_back(Napi::Persistent(b.array->value));
    returned_ = Napi::Persistent(job_->returned()->value);
  }
  Napi::Promise promise() const { return promise_.Value().As<Napi::Promise>(); }

 protected:
  void Execute() override {
    try {
      execute_job(*job_);
    } catch (const natgrad::Error& e) {
      error_ = e;
    } catch (const std::exception& e) {
      error_ = natgrad::Error{"ERR_NATIVE", job_->fn + ": " + e.what()};
    }
  }
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    if (status != napi_cancelled) {
      try {
        Napi::HandleScope scope(env);
        settle(env);
      } catch (const Napi::Error& e) {
        // JavaScript cannot run (the environment is being torn down): nothing can receive the result.
        // Anywhere else, hand the error to JavaScript as an uncaught exception, as node-addon-api would.
        bool pending = false;
        if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) napi_throw(env, e.Value());
      } catch (...) {
      }
    }
    Destroy();
  }

 private:
  void settle(Napi::Env env) {
    if (!error_.code.empty()) {
      settlers_.reject(to_js_error(env, error_).Value());
      return;
    }
    if (const char* lost = snapshot_.give_back()) {
      natgrad::Error e{"ERR_INVALID_STATE", job_->fn + ": argument '" + lost +
                                                "' lost its memory while the call ran (its ArrayBuffer was detached, "
                                                "transferred or shrunk); the result was discarded"};
      settlers_.reject(to_js_error(env, e).Value());
      return;
    }
    settlers_.resolve(job_->result(env, returned_.Value()));
  }

  std::unique_ptr<Job> job_;
  Snapshot snapshot_;
  Settlers settlers_;
  Napi::Reference<Napi::Value> promise_;
  std::vector<Napi::Reference<Napi::Value>> refs_;
  Napi::Reference<Napi::Value> returned_;
  natgrad::Error error_;
};

// The job for a call from `env`, with that environment's choices.
template <class J>
std::unique_ptr<J> make_job(Napi::Env env, const char* fn) {
  const EnvState& st = env_state(env);
  auto job = std::make_unique<J>();
  job->backend = st.backend;
  job->threads = st.threads;
  job->memory_limit = st.memory_limit;
  job->fn = fn;
  return job;
}

// Reads a job's arguments (J::kParams), binding its arrays; then no output may overlap an input.
template <class J>
void parse_job(const Napi::CallbackInfo& info, J& job) {
  Args args(info, job.fn.c_str(), J::kParams, &job.arrays);
  job.parse(args);
  job.dtype = args.dtype();
  args.check_overlaps();
}

template <class J>
Napi::Value call_sync(const Napi::CallbackInfo& info, const char* fn) {
  std::unique_ptr<J> job = make_job<J>(info.Env(), fn);
  parse_job(info, *job);
  try {
    prepare(info.Env(), *job, false);
    execute_job(*job);
  } catch (const natgrad::Error& e) {
    throw to_js_error(info.Env(), e);
  }
  return job->result(info.Env(), job->returned()->value);
}

template <class J>
Napi::Value call_async(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  std::unique_ptr<J> job = make_job<J>(env, fn);
  Snapshot snapshot;
  const auto reject = [&](Napi::Value error) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(error);
    return d.Promise();
  };
  try {
    parse_job(info, *job);
    prepare(env, *job, true);
    snapshot.take(*job);
  } catch (const Napi::Error& e) {  // argument errors reject the promise
    return reject(e.Value());
  } catch (const natgrad::Error& e) {
    return reject(to_js_error(env, e).Value());
  } catch (const std::bad_alloc&) {
    return reject(
        to_js_error(env, natgrad::Error{"ERR_OUT_OF_MEMORY",
                                        std::string(fn) + ": out of memory for the private copies of the arrays"})
            .Value());
  }
  auto* worker = new JobWorker(env, std::move(job), std::move(snapshot));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

// Registers kernel J as J::kName (sync) and J::kName + "Async" (Promise), and its parameter list in
// `params` (exported as addon.kernelArguments, which test/native_table.test.ts holds the TypeScript side to).
template <class J>
void register_kernel(Napi::Env env, Napi::Object exports, Napi::Object params) {
  static const std::string async_name = std::string(J::kName) + "Async";
  exports.Set(J::kName,
              Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return call_sync<J>(i, J::kName); }));
  exports.Set(async_name, Napi::Function::New(
                              env, [](const Napi::CallbackInfo& i) { return call_async<J>(i, async_name.c_str()); }));
  Napi::Array names = Napi::Array::New(env, J::kParams.size());
  for (size_t i = 0; i < J::kParams.size(); ++i) names.Set((uint32_t)i, J::kParams[i]);
  params.Set(J::kName, names);
}

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EnvState& st = env_state(env);
  natgrad::BackendInfo b;
  {
    natgrad::cpu::CallThreads threads(st.threads);  // cpu: this environment's thread count
    b = st.backend->info();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", b.name);
  o.Set("blas", b.blas);
  o.Set("threads", b.threads);
  o.Set("device", b.device);
  o.Set("reason", st.reason);
  o.Set("note", b.note);
  o.Set("kernels", b.kernels);
  Napi::Array independent = Napi::Array::New(env);
  for (size_t start = 0; start < b.thread_independent.size();) {
    size_t end = b.thread_independent.find(',', start);
    if (end == std::string::npos) end = b.thread_independent.size();
    independent.Set(independent.Length(), b.thread_independent.substr(start, end - start));
    start = end + 1;
  }
  o.Set("threadIndependent", independent);
  if (b.has_cpu_path) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("isa", b.cpu.isa);
    c.Set("openblasCore", b.cpu.openblas_core);
    c.Set("openblasIsa", b.cpu.openblas_isa);
    c.Set("microKernel", b.cpu.micro_kernel);
    c.Set("gemm", b.cpu.gemm);
    c.Set("cholesky", b.cpu.cholesky);
    c.Set("why", b.cpu.why);
    c.Set("parking", b.cpu.parking);
    c.Set("parks", (double)b.cpu.parks);
    o.Set("cpu", c);
  } else {
    o.Set("cpu", env.Null());
  }
  return o;
}

// cpuPathRule(cpuIsa, openblasCore): the auto rule of NATGRAD_CPU_GEMM as a pure function (gemm_nt.h),
// for any CPU level ('AVX-512' | 'AVX2' | 'AVX' | 'SSE' | 'other') and OpenBLAS core name, so that its
// table is tested on every machine: { gemm, cholesky: 'natgrad' | 'openblas', why }.
Napi::Value cpu_path_rule_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsString() || !info[1].IsString())
    throw_arg(env, false, "cpuPathRule: expected (cpuIsa: string, openblasCore: string)");
  const std::string isa = info[0].As<Napi::String>(), core = info[1].As<Napi::String>();
  natgrad::cpu::Isa level;
  if (!natgrad::cpu::isa_from_name(isa, &level))
    throw_arg(env, true, "cpuPathRule: cpuIsa must be 'AVX-512', 'AVX2', 'AVX', 'SSE' or 'other', got '" + isa + "'");
  const natgrad::cpu::PathRule r = natgrad::cpu::cpu_path_rule(level, natgrad::cpu::openblas_core_isa(core), core);
  Napi::Object o = Napi::Object::New(env);
  o.Set("gemm", r.own_gemm ? "natgrad" : "openblas");
  o.Set("cholesky", r.own_cholesky ? "natgrad" : "openblas");
  o.Set("why", r.why);
  return o;
}

// selectBackend('auto' | 'cpu' | 'cuda'): 'cuda' throws ERR_BACKEND_UNAVAILABLE
// with the reason when CUDA cannot be used; 'auto' falls back to the CPU. Per environment.
Napi::Value select_backend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState& st = env_state(env);
  const std::string want = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (want != "auto" && want != "cpu" && want != "cuda")
    throw_arg(env, false, "selectBackend: argument 'name' must be 'auto', 'cpu' or 'cuda'");
  if (want == "cpu") {
    st.backend = natgrad::cpu_backend();
    st.reason = "cpu: selected by NATGRAD_BACKEND=cpu";
    return backend_info(info);
  }
  std::string why;
  Backend* cuda = natgrad::cuda_backend(&why);
  if (cuda) {
    st.backend = cuda;
    st.reason = "cuda: " + std::string(want == "cuda" ? "selected by NATGRAD_BACKEND=cuda"
                                                      : "a CUDA device and its libraries were found");
  } else if (want == "cuda") {
    natgrad::Error e{"ERR_BACKEND_UNAVAILABLE", "NATGRAD_BACKEND=cuda but the CUDA backend cannot be used: " + why};
    throw to_js_error(env, e);
  } else {
    st.backend = natgrad::cpu_backend();
    st.reason = "cpu: CUDA not used — " + why;
  }
  return backend_info(info);
}

// setThreads(n): the threads of this environment's CPU calls (natgrad's pool and OpenBLAS); other
// environments (the main thread, other Workers) keep theirs.
Napi::Value set_threads(const Napi::CallbackInfo& info) {
  Args a(info, "setThreads", 1);
  const int64_t n = a.size(0, "threads");
  if (n > 1024) throw_arg(info.Env(), true, "setThreads: argument 'threads' must be ≤ 1024");
  env_state(info.Env()).threads = (int)n;
  return backend_info(info);
}

Napi::Value memory_info_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EnvState& st = env_state(env);
  const natgrad::MemoryInfo m = natgrad::memory_info(st.memory_limit);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Number::New(env, (double)m.available));
  o.Set("system", Napi::Number::New(env, (double)m.system));
  o.Set("limit", st.memory_limit == natgrad::kNoLimit ? env.Null() : Napi::Number::New(env, (double)st.memory_limit));
  o.Set("source", m.source);
  o.Set("limitInvalid", Napi::Boolean::New(env, st.memory_limit_invalid));
  return o;
}

// setMemoryLimit(bytes | null): this environment's cap on what one call or step may allocate.
Napi::Value set_memory_limit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState& st = env_state(env);
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
    st.memory_limit = natgrad::kNoLimit;
  } else {
    Args a(info, "setMemoryLimit", 1);
    const double d = a.number(0, "bytes");
    if (d < 1) throw_arg(env, true, "setMemoryLimit: argument 'bytes' must be ≥ 1 (or null for no limit)");
    st.memory_limit = d >= 9.2e18 ? natgrad::kNoLimit : (int64_t)d;
  }
  st.memory_limit_invalid = false;
  return memory_info_js(info);
}

// requireMemory(fn, bytes, what[, limit]): the optimizers' check before they allocate (the kernels'
// rule), under the smaller of this environment's cap and `limit` (an optimizer's maxMemory).
// workBytes('layerGramSum', widthsOut[], N, k[, 'float64']) | workBytes('choleskySolve' | 'pinvSolve', M, nrhs,
// precision): the host work buffers of a CPU kernel (cpu_kernels.h), for the optimizer's estimate of a
// whole step, so that each formula is written once, beside its kernel.
Napi::Value work_bytes_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kernel = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (kernel == "layerGramSum") {
    Args a(info, "workBytes", 4);
    Napi::Array list = a.array(1, "widthsOut", LayerGramSumJob::kMaxLayers);
    std::vector<int64_t> widths(list.Length());
    for (uint32_t l = 0; l < list.Length(); ++l) {
      const Napi::Value v = list.Get(l);
      if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 1)
        throw_arg(env, true, "workBytes: 'widthsOut' must hold widths ≥ 1");
      widths[l] = (int64_t)v.As<Napi::Number>().DoubleValue();
    }
    if (info.Length() > 4 && info[4].IsString() && info[4].As<Napi::String>().Utf8Value() == "float64")
      return Napi::Number::New(env, (double)natgrad::cpu::layer_gram_sum64_work_bytes(a.size(2, "N"), a.size(3, "k")));
    return Napi::Number::New(env, (double)natgrad::cpu::layer_gram_sum_work_bytes(widths.data(), (int64_t)widths.size(),
                                                                                  a.size(2, "N"), a.size(3, "k")));
  }
  if (kernel == "choleskySolve" || kernel == "pinvSolve") {
    Args a(info, "workBytes", 4);
    const int64_t M = a.size(1, "M"), nrhs = a.size(2, "nrhs");
    const Precision p = a.precision(3);
    return Napi::Number::New(env,
                             (double)(kernel == "pinvSolve" ? natgrad::cpu::pinv_solve_work_bytes(M, nrhs, p)
                                                            : natgrad::cpu::cholesky_solve_work_bytes(M, nrhs, p)));
  }
  throw_arg(env, false, "workBytes: argument 'kernel' must be 'layerGramSum', 'choleskySolve' or 'pinvSolve'");
}

Napi::Value require_memory_js(const Napi::CallbackInfo& info) {
  Args a(info, "requireMemory", 3);
  const std::string fn = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "natgrad";
  const double bytes = a.nonnegative(1, "bytes");
  const std::string what = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  int64_t limit = env_state(info.Env()).memory_limit;
  if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull()) {
    const double l = a.nonnegative(3, "limit");
    if (l < 9.2e18 && (int64_t)l < limit) limit = (int64_t)l;
  }
  try {
    natgrad::require_memory(fn, bytes >= 9.2e18 ? INT64_MAX : (int64_t)bytes, what, limit);
  } catch (const natgrad::Error& e) {
    throw to_js_error(info.Env(), e);
  }
  return info.Env().Undefined();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  natgrad::cpu::configure_openblas_threads();  // OpenBLAS's idle workers: a short timeout (cpu/parallel.h)
  natgrad::cpu::default_threads();  // fixes the process default (OpenBLAS's count at load) before any setThreads
  auto* st = new EnvState;
  st->backend = natgrad::cpu_backend();
  st->reason = "cpu: default until selectBackend() is called";
  const int64_t limit = natgrad::memory_limit_from_env();
  st->memory_limit = limit < 0 ? natgrad::kNoLimit : limit;
  st->memory_limit_invalid = limit < 0;
  st->promise = Napi::Persistent(env.Global().Get("Promise").As<Napi::Function>());
  env.SetInstanceData(st);  // deleted with the environment
  Napi::Object params = Napi::Object::New(env);
  register_kernel<GemmJob>(env, exports, params);
  register_kernel<GramJob>(env, exports, params);
  register_kernel<LayerGramJob>(env, exports, params);
  register_kernel<LayerGramSumJob>(env, exports, params);
  register_kernel<CholeskyJob>(env, exports, params);
  register_kernel<PinvJob>(env, exports, params);
  register_kernel<BatchedGramInverseJob>(env, exports, params);
  register_kernel<ExactStepJob>(env, exports, params);
  register_kernel<ActivationForwardJob>(env, exports, params);
  register_kernel<ActivationBackwardJob>(env, exports, params);
  register_kernel<RowsContractJob>(env, exports, params);
  register_kernel<RowsDotJob>(env, exports, params);
  register_kernel<AllFiniteJob>(env, exports, params);
  register_kernel<Im2colJob>(env, exports, params);
  register_kernel<Conv2dInputSeedsJob>(env, exports, params);
  register_kernel<Conv2dForwardJob>(env, exports, params);
  register_kernel<Conv2dGradientsJob>(env, exports, params);
  register_kernel<Pool2dForwardJob>(env, exports, params);
  register_kernel<Pool2dBackwardJob>(env, exports, params);
  exports.Set("kernelArguments", params);
  exports.Set("backendInfo", Napi::Function::New(env, backend_info));
  exports.Set("selectBackend", Napi::Function::New(env, select_backend));
  exports.Set("setThreads", Napi::Function::New(env, set_threads));
  exports.Set("memoryInfo", Napi::Function::New(env, memory_info_js));
  exports.Set("setMemoryLimit", Napi::Function::New(env, set_memory_limit));
  exports.Set("requireMemory", Napi::Function::New(env, require_memory_js));
  exports.Set("workBytes", Napi::Function::New(env, work_bytes_js));
  exports.Set("cpuPathRule", Napi::Function::New(env, cpu_path_rule_js));
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxOrder", Napi::Number::New(env, 46340));  // the largest M with M² ≤ 2³¹ − 1
  limits.Set("maxEigenOrder", Napi::Number::New(env, (double)natgrad::cpu::kMaxSyevdOrder));
  limits.Set("checkBytes", Napi::Number::New(env, (double)natgrad::kCheckBytes));  // smaller requests are never refused
  exports.Set("limits", limits);
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(natgrad, init)
