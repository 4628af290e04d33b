// The LSTM and GRU recurrences as XLA FFI kernels for CPUs: forward, and backward with
// or without the inputs' gradient.
//
// On XLA:CPU a small recurrent model's time goes to per-step dispatch (one small matmul
// and a few fusions per step, each a separate kernel launch), not to arithmetic. These
// kernels run the whole time loop in one call, with the gates' arithmetic fused into each
// step and the batch rows split across XLA's intra-op thread pool (rows are independent,
// so the threads never synchronise inside the loop).
//
// The LSTM's mathematics is that of fjax/models/lstm_layer.py, step for step (the GRU's,
// of fjax/models/gru_layer.py, is stated above its kernels below):
//   z_t = b + x_t W + h_{t-1} U,  [i, f, g, o] = [s(z_i), s(z_f), tanh(z_g), s(z_o)],
//   c_t = f c_{t-1} + i g,        h_t = o tanh(c_t),   s(x) = 0.5 tanh(x / 2) + 0.5,
// with tanh evaluated by the rational approximation XLA:CPU and Eigen use for float32.
// Each step's input projection x_t W (forward) and input gradient dz_t W^T (backward)
// are computed with the step's recurrent matmul while its rows are in cache; the weight
// gradients stay large matmuls that XLA runs well.
//
// Layouts (row-major, time-major): x f32[T, B, D], W f32[D, 4H], b f32[4H], U f32[H, 4H],
// hs/cs f32[T, B, H], gates f32[T, B, 4H] holding the activated [i, f, g, o].

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kLanes = 16;  // floats per vector register block (one AVX-512 register)
typedef float Vec __attribute__((vector_size(4 * kLanes)));
typedef float VecU __attribute__((vector_size(4 * kLanes), aligned(4)));

// Scratch arrays start on a cache line (std::vector's default is 16 bytes): a 64-byte
// vector load from a misaligned weight row spans two lines. Aligned, the forward call
// took 5-12% less time in XLA (22% less in a standalone single-thread loop).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CacheLineAllocator<U>&) const { return false; }
};
using Floats = std::vector<float, CacheLineAllocator<float>>;

inline Vec Load(const float* p) { return *reinterpret_cast<const VecU*>(p); }
inline void Store(float* p, Vec v) { *reinterpret_cast<VecU*>(p) = v; }
inline int64_t RoundUp(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

inline Vec Splat(float x) { return Vec{} + x; }

// tanh as XLA:CPU computes it for float32: a [13/6] rational function on [-9, 9].
inline Vec Tanh(Vec x) {
  const Vec lo = Splat(-9.0f), hi = Splat(9.0f);
  Vec clamped = x < lo ? lo : x;
  clamped = clamped > hi ? hi : clamped;
  const Vec x2 = clamped * clamped;
  Vec p = Splat(-2.76076847742355e-16f);
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * clamped;
  Vec q = Splat(1.19825839466702e-06f);
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const Vec r = p / q;
  return (x < Splat(0.0004f)) & (x > Splat(-0.0004f)) ? x : r;
}

inline Vec Sigmoid(Vec x) { return 0.5f * Tanh(0.5f * x) + 0.5f; }

// c[R rows, 16 J columns] = init + a[R rows, k] @ b[k, 16 J columns], where init is
// c_in (stride ldc_in) or zero when c_in is null; all operands strided.
template <int R, int J>
inline void MatmulBlock(const float* a, int64_t lda, int64_t k, const float* b, int64_t ldb,
                        const float* c_in, int64_t ldc_in, float* c, int64_t ldc) {
  Vec acc[R][J];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j)
      acc[r][j] = c_in ? Load(c_in + r * ldc_in + j * kLanes) : Vec{};
  for (int64_t p = 0; p < k; ++p) {
    Vec bv[J];
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) bv[j] = Load(b + p * ldb + j * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float av = a[r * lda + p];
#pragma GCC unroll 8
      for (int j = 0; j < J; ++j) acc[r][j] += av * bv[j];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) Store(c + r * ldc + j * kLanes, acc[r][j]);
}

// The last `rows` (< R) rows of a panel as one block, so a tail is not run row by row.
template <int R, int J>
inline void MatmulTail(int64_t rows, const float* a, int64_t lda, int64_t k, const float* b,
                       int64_t ldb, const float* c_in, int64_t ldc_in, float* c, int64_t ldc) {
  if constexpr (R > 0) {
    if (rows == R)
      MatmulBlock<R, J>(a, lda, k, b, ldb, c_in, ldc_in, c, ldc);
    else
      MatmulTail<R - 1, J>(rows, a, lda, k, b, ldb, c_in, ldc_in, c, ldc);
  }
}

// One panel of J vectors of columns, all m rows, blocks of R rows and one smaller tail.
template <int R, int J>
void MatmulPanel(const float* a, int64_t lda, int64_t m, int64_t k, const float* b,
                 int64_t ldb, const float* c_in, int64_t ldc_in, float* c, int64_t ldc) {
  int64_t row = 0;
  for (; row + R <= m; row += R)
    MatmulBlock<R, J>(a + row * lda, lda, k, b, ldb, c_in ? c_in + row * ldc_in : nullptr,
                      ldc_in, c + row * ldc, ldc);
  MatmulTail<R - 1, J>(m - row, a + row * lda, lda, k, b, ldb,
                       c_in ? c_in + row * ldc_in : nullptr, ldc_in, c + row * ldc, ldc);
}

// c[m, n] = c_in[m, n] (or 0) + a[m, k] @ b[k, n], n a multiple of kLanes: panels of
// 4 (the last one up to 7) vectors of columns, so each panel of b stays in L1 while
// every row passes over it.
void Matmul(const float* a, int64_t lda, int64_t m, int64_t k, const float* b, int64_t ldb,
            int64_t n, const float* c_in, int64_t ldc_in, float* c, int64_t ldc) {
  const int64_t vectors = n / kLanes;
  for (int64_t v = 0; v < vectors;) {
    const int64_t left = vectors - v;
    const int64_t take = left >= 8 ? 4 : left;
    const float* in = c_in ? c_in + v * kLanes : nullptr;
    const int64_t col = v * kLanes;
    switch (take) {
      case 1: MatmulPanel<8, 1>(a, lda, m, k, b + col, ldb, in, ldc_in, c + col, ldc); break;
      case 2: MatmulPanel<6, 2>(a, lda, m, k, b + col, ldb, in, ldc_in, c + col, ldc); break;
      case 3: MatmulPanel<6, 3>(a, lda, m, k, b + col, ldb, in, ldc_in, c + col, ldc); break;
      case 4: MatmulPanel<6, 4>(a, lda, m, k, b + col, ldb, in, ldc_in, c + col, ldc); break;
      case 5: MatmulPanel<4, 5>(a, lda, m, k, b + col, ldb, in, ldc_in, c + col, ldc); break;
      case 6: MatmulPanel<3, 6>(a, lda, m, k, b + col, ldb, in, ldc_in, c + col, ldc); break;
      default: MatmulPanel<3, 7>(a, lda, m, k, b + col, ldb, in, ldc_in, c + col, ldc); break;
    }
    v += take;
  }
}

// The cells work on kLanes hidden units at a time. Each row's first n - n % kLanes units
// are read in place; the last n % kLanes units of all rows are gathered into a TailStage
// and run as whole vectors too (scalar code there took a third of the step at H = 50).
constexpr int64_t kGates = 4;

// kLanes units of one step: z and gates hold the four gates `stride` floats apart.
inline void ForwardLanes(const float* z, float* gates, int64_t stride, float* c_state,
                         float* h, float* c) {
  const Vec i = Sigmoid(Load(z)), f = Sigmoid(Load(z + stride));
  const Vec g = Tanh(Load(z + 2 * stride)), o = Sigmoid(Load(z + 3 * stride));
  const Vec c_new = f * Load(c_state) + i * g;
  Store(c_state, c_new);
  Store(c, c_new);
  Store(h, o * Tanh(c_new));
  Store(gates, i);
  Store(gates + stride, f);
  Store(gates + 2 * stride, g);
  Store(gates + 3 * stride, o);
}

// kLanes units of one reverse step: gates and dz hold the four gates `stride` apart;
// dh holds dz_{t+1} U^T, dc is carried to step t - 1.
inline void BackwardLanes(const float* gates, int64_t stride, const float* c,
                          const float* c_prev, const float* dh_out, const float* dh, float* dc,
                          float* dz) {
  const Vec one = Splat(1.0f);
  const Vec i = Load(gates), f = Load(gates + stride);
  const Vec g = Load(gates + 2 * stride), o = Load(gates + 3 * stride);
  const Vec tc = Tanh(Load(c));
  const Vec dh_j = Load(dh) + Load(dh_out);
  const Vec dc_j = Load(dc) + dh_j * (o * (one - tc * tc));
  Store(dz, dc_j * (g * (i * (one - i))));
  Store(dz + stride, dc_j * (Load(c_prev) * (f * (one - f))));
  Store(dz + 2 * stride, dc_j * (i * (one - g * g)));
  Store(dz + 3 * stride, dh_j * (tc * (o * (one - o))));
  Store(dc, dc_j * f);
}

// The last `width` units of every row of several row-major arrays, each array gathered
// into one flat, zero-padded buffer of size() floats (rows x width values).
class TailStage {
 public:
  TailStage(int64_t rows, int64_t width, int64_t arrays)
      : rows_(rows), width_(width), size_(RoundUp(rows * width)), buf_(size_ * arrays, 0.0f) {}
  int64_t size() const { return size_; }
  float* operator[](int64_t k) { return buf_.data() + k * size_; }
  // Array k <- units [from, from + width) of rows of `src` (row stride ld).
  void Gather(int64_t k, const float* src, int64_t ld, int64_t from) {
    float* dst = (*this)[k];
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t u = 0; u < width_; ++u) dst[r * width_ + u] = src[r * ld + from + u];
  }
  void Scatter(int64_t k, float* dst, int64_t ld, int64_t from) {
    const float* src = (*this)[k];
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t u = 0; u < width_; ++u) dst[r * ld + from + u] = src[r * width_ + u];
  }

 private:
  int64_t rows_, width_, size_;
  Floats buf_;
};

// Runs part(lo, hi) over row ranges covering [0, rows), on the calling thread and the
// pool. Parts are claimed from a shared counter, so the caller finishes any part that no
// pool thread has started: nothing waits on a task the pool has not run.
template <typename Part>
void ParallelRows(ffi::ThreadPool& pool, int64_t rows, Part part) {
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, rows / 8));
  if (parts == 1) {
    part(0, rows);
    return;
  }
  struct State {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  auto state = std::make_shared<State>();
  auto run = [state, rows, parts, part]() {
    for (int64_t i; (i = state->next.fetch_add(1)) < parts;) {
      part(rows * i / parts, rows * (i + 1) / parts);
      state->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t i = 1; i < parts; ++i) pool.Schedule(decltype(run)(run));
  run();
  while (state->done.load(std::memory_order_acquire) < parts) std::this_thread::yield();
}

using Buf = ffi::Buffer<ffi::F32>;

// Whether x f32[T, B, D], W f32[D, G H], b f32[G H] and U f32[H, G H] agree, G gates.
bool ForwardShapes(const Buf& x, const Buf& w, const Buf& b, const Buf& u, int64_t gates) {
  const auto xd = x.dimensions(), wd = w.dimensions(), ud = u.dimensions();
  if (xd.size() != 3 || wd.size() != 2 || ud.size() != 2) return false;
  const int64_t width = gates * ud[0];
  return wd[0] == xd[2] && wd[1] == width && ud[1] == width &&
         static_cast<int64_t>(b.element_count()) == width;
}

// Whether the input kernel W f32[D, G H] matches U's columns and dx f32[T, B, D].
bool InputKernelShapes(const Buf& w, const Buf& u, int64_t dx_width) {
  return w.dimensions().size() == 2 && w.dimensions()[1] == u.dimensions()[1] &&
         w.dimensions()[0] == dx_width;
}

// The rows of src f32[rows, width] with their columns zero-padded to `padded`.
Floats PadColumns(const float* src, int64_t rows, int64_t width, int64_t padded) {
  Floats out(rows * padded, 0.0f);
  for (int64_t k = 0; k < rows; ++k)
    std::memcpy(&out[k * padded], src + k * width, width * sizeof(float));
  return out;
}

// A forward kernel's W f32[D, GH], b f32[GH] and U f32[H, GH] with their columns padded
// to a multiple of the vector width.
struct PaddedWeights {
  Floats w, b, u;
};

PaddedWeights PadWeights(const Buf& w, const Buf& bias, const Buf& u) {
  const int64_t width = u.dimensions()[1], padded = RoundUp(width);
  return {PadColumns(w.typed_data(), w.dimensions()[0], width, padded),
          PadColumns(bias.typed_data(), 1, width, padded),
          PadColumns(u.typed_data(), u.dimensions()[0], width, padded)};
}

ffi::Error Forward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                   ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> u,
                   ffi::ResultBuffer<ffi::F32> hs, ffi::ResultBuffer<ffi::F32> cs,
                   ffi::ResultBuffer<ffi::F32> gates) {
  if (!ForwardShapes(x, w, bias, u, 4))
    return ffi::Error::InvalidArgument(
        "lstm_forward: expected x[T, B, D], W[D, 4H], b[4H] and U[H, 4H]");
  const auto dims = x.dimensions();
  const int64_t hidden = u.dimensions()[0], width = 4 * hidden;
  const int64_t steps = dims[0], batch = dims[1], inputs = dims[2], padded = RoundUp(width);
  const int64_t whole = hidden / kLanes * kLanes;  // units the cells read in place
  const PaddedWeights pad = PadWeights(w, bias, u);
  const float* x_in = x.typed_data();
  float* h_out = hs->typed_data();
  float* c_out = cs->typed_data();
  float* s_out = gates->typed_data();

  ParallelRows(pool, batch, [&](int64_t lo, int64_t hi) {
    const int64_t rows = hi - lo;
    Floats z(rows * padded, 0.0f);
    Floats c_prev(rows * hidden, 0.0f);
    TailStage tail(rows, hidden - whole, 11);
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t base = t * batch + lo;
      // z = b + x_t W (+ h_{t-1} U): the input projection is part of the step.
      Matmul(x_in + base * inputs, inputs, rows, inputs, pad.w.data(), padded, padded,
             pad.b.data(), 0, z.data(), padded);
      if (t > 0)
        Matmul(h_out + (base - batch) * hidden, hidden, rows, hidden, pad.u.data(), padded,
               padded, z.data(), padded, z.data(), padded);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < whole; j += kLanes)
          ForwardLanes(&z[r * padded + j], s_out + (base + r) * width + j, hidden,
                       &c_prev[r * hidden + j], h_out + (base + r) * hidden + j,
                       c_out + (base + r) * hidden + j);
      if (whole == hidden) continue;
      // Tail arrays: 0-3 pre-activations, 4 cell state, 5-8 gates, 9 h, 10 c.
      for (int64_t q = 0; q < kGates; ++q) tail.Gather(q, &z[q * hidden], padded, whole);
      tail.Gather(4, c_prev.data(), hidden, whole);
      for (int64_t e = 0; e < tail.size(); e += kLanes)
        ForwardLanes(tail[0] + e, tail[5] + e, tail.size(), tail[4] + e, tail[9] + e,
                     tail[10] + e);
      for (int64_t q = 0; q < kGates; ++q)
        tail.Scatter(5 + q, s_out + base * width + q * hidden, width, whole);
      tail.Scatter(4, c_prev.data(), hidden, whole);
      tail.Scatter(9, h_out + base * hidden, hidden, whole);
      tail.Scatter(10, c_out + base * hidden, hidden, whole);
    }
  });
  return ffi::Error::Success();
}

// One reverse step's matmul for rows of dz_t f32[rows, width] against bt = [U^T | W^T]
// f32[width, ld] (W^T from column `padded`): out = [dh_{t-1} | dx_t] = dz_t bt (+ add,
// f32[rows, ld], where given) while t > 0; at t = 0 only dx_t. dx_t is then copied to
// dx f32[rows, inputs] (none when inputs == 0).
void StepGradients(const float* dz_t, int64_t width, int64_t rows, int64_t t, const float* bt,
                   int64_t ld, int64_t padded, int64_t inputs, const float* add, float* out,
                   float* dx) {
  if (t > 0)
    Matmul(dz_t, width, rows, width, bt, ld, ld, add, add ? ld : 0, out, ld);
  else if (inputs > 0)
    Matmul(dz_t, width, rows, width, bt + padded, ld, ld - padded, nullptr, 0, out + padded, ld);
  for (int64_t r = 0; r < rows && inputs > 0; ++r)
    std::memcpy(dx + r * inputs, out + r * ld + padded, inputs * sizeof(float));
}

// The reverse recurrence; with w (f32[D, 4H], the input kernel) it also writes
// dx_t = dz_t W^T to dx f32[T, B, D], as part of each step's matmul.
ffi::Error BackwardImpl(ffi::ThreadPool& pool, ffi::Buffer<ffi::F32>& u, const float* w,
                        int64_t inputs, ffi::Buffer<ffi::F32>& cs, ffi::Buffer<ffi::F32>& gates,
                        ffi::Buffer<ffi::F32>& dhs, ffi::Buffer<ffi::F32>& dh_last,
                        float* dz_out, float* dx_out) {
  const auto dims = cs.dimensions();
  const int64_t steps = dims[0], batch = dims[1], hidden = dims[2];
  const int64_t width = 4 * hidden, padded = RoundUp(hidden), padded_in = RoundUp(inputs);
  const int64_t whole = hidden / kLanes * kLanes;  // units the cells read in place
  if (u.dimensions().size() != 2 || u.dimensions()[0] != hidden ||
      u.dimensions()[1] != width || dhs.dimensions()[0] != steps ||
      gates.dimensions()[2] != width)
    return ffi::Error::InvalidArgument("lstm_backward: inconsistent shapes");
  // [U^T | W^T], f32[4H, ld], each block's columns padded: one matmul per step gives
  // dh_{t-1} = dz_t U^T (columns [0, H)) and dx_t = dz_t W^T (from column `padded`).
  const int64_t ld = padded + padded_in;
  Floats bt(width * ld, 0.0f);
  for (int64_t k = 0; k < hidden; ++k)
    for (int64_t j = 0; j < width; ++j) bt[j * ld + k] = u.typed_data()[k * width + j];
  for (int64_t k = 0; k < inputs; ++k)
    for (int64_t j = 0; j < width; ++j) bt[j * ld + padded + k] = w[k * width + j];
  const float* c_in = cs.typed_data();
  const float* s_in = gates.typed_data();
  const float* dh_in = dhs.typed_data();
  const float* dh_end = dh_last.typed_data();

  ParallelRows(pool, batch, [&](int64_t lo, int64_t hi) {
    const int64_t rows = hi - lo;
    Floats out(rows * ld, 0.0f);   // [dh | dx] of the step
    Floats dc(rows * hidden, 0.0f);
    const Floats zeros(rows * hidden, 0.0f);
    TailStage tail(rows, hidden - whole, 13);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(&out[r * ld], dh_end + (lo + r) * hidden, hidden * sizeof(float));
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t base = t * batch + lo;
      const float* c_prev = t > 0 ? c_in + (base - batch) * hidden : zeros.data();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < whole; j += kLanes)
          BackwardLanes(s_in + (base + r) * width + j, hidden, c_in + (base + r) * hidden + j,
                        c_prev + r * hidden + j, dh_in + (base + r) * hidden + j,
                        &out[r * ld + j], &dc[r * hidden + j], dz_out + (base + r) * width + j);
      if (whole < hidden) {
        // Tail arrays: 0-3 gates, 4 c, 5 c_prev, 6 dh_out, 7 dh, 8 dc, 9-12 dz.
        for (int64_t q = 0; q < kGates; ++q)
          tail.Gather(q, s_in + base * width + q * hidden, width, whole);
        tail.Gather(4, c_in + base * hidden, hidden, whole);
        tail.Gather(5, c_prev, hidden, whole);
        tail.Gather(6, dh_in + base * hidden, hidden, whole);
        tail.Gather(7, out.data(), ld, whole);
        tail.Gather(8, dc.data(), hidden, whole);
        for (int64_t e = 0; e < tail.size(); e += kLanes)
          BackwardLanes(tail[0] + e, tail.size(), tail[4] + e, tail[5] + e, tail[6] + e,
                        tail[7] + e, tail[8] + e, tail[9] + e);
        for (int64_t q = 0; q < kGates; ++q)
          tail.Scatter(9 + q, dz_out + base * width + q * hidden, width, whole);
        tail.Scatter(8, dc.data(), hidden, whole);
      }
      StepGradients(dz_out + base * width, width, rows, t, bt.data(), ld, padded, inputs,
                    nullptr, out.data(), dx_out ? dx_out + base * inputs : nullptr);
    }
  });
  return ffi::Error::Success();
}

ffi::Error Backward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> u, ffi::Buffer<ffi::F32> cs,
                    ffi::Buffer<ffi::F32> gates, ffi::Buffer<ffi::F32> dhs,
                    ffi::Buffer<ffi::F32> dh_last, ffi::ResultBuffer<ffi::F32> dz) {
  return BackwardImpl(pool, u, nullptr, 0, cs, gates, dhs, dh_last, dz->typed_data(), nullptr);
}

ffi::Error BackwardWithInputGrad(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> u,
                                 ffi::Buffer<ffi::F32> w, ffi::Buffer<ffi::F32> cs,
                                 ffi::Buffer<ffi::F32> gates, ffi::Buffer<ffi::F32> dhs,
                                 ffi::Buffer<ffi::F32> dh_last, ffi::ResultBuffer<ffi::F32> dz,
                                 ffi::ResultBuffer<ffi::F32> dx) {
  if (!InputKernelShapes(w, u, dx->dimensions().back()))
    return ffi::Error::InvalidArgument("lstm_backward_dx: expected W[D, 4H] and dx[T, B, D]");
  const int64_t inputs = w.dimensions()[0];
  return BackwardImpl(pool, u, w.typed_data(), inputs, cs, gates, dhs, dh_last,
                      dz->typed_data(), dx->typed_data());
}

// ---- GRU (flax's GRUCell) ----
//   a_t = b_i + x_t W_i,  g_t = h_{t-1} W_h + [0, 0, b_hn]     (gates r, z, n; 3H each)
//   r = s(a_r + g_r),  z = s(a_z + g_z),  n = tanh(a_n + r g_n),  h_t = (1 - z) n + z h_{t-1}
// The forward saves [r, z, n, g_n] f32[T, B, 4H] for the backward, which writes
// dz_t = [da_r, da_z, da_n, dg_n] (the pre-activations' gradients; g_n's is da_n r).
constexpr int64_t kSaved = 4;   // blocks of H per row in the saved values and in dz

// kLanes units of one GRU step: a and g hold the gates `stride` floats apart.
inline void GruForwardLanes(const float* a, const float* g, int64_t stride, const float* h_prev,
                            float* h, float* saved) {
  const Vec r = Sigmoid(Load(a) + Load(g));
  const Vec z = Sigmoid(Load(a + stride) + Load(g + stride));
  const Vec g_n = Load(g + 2 * stride);
  const Vec n = Tanh(Load(a + 2 * stride) + r * g_n);
  Store(h, (Splat(1.0f) - z) * n + z * Load(h_prev));
  Store(saved, r);
  Store(saved + stride, z);
  Store(saved + 2 * stride, n);
  Store(saved + 3 * stride, g_n);
}

// kLanes units of one reverse GRU step: saved and dz hold four blocks `stride` apart;
// dh is the carried gradient of h_t (dh_out the sequence's own), direct receives dh z.
inline void GruBackwardLanes(const float* saved, int64_t stride, const float* h_prev,
                             const float* dh_out, const float* dh, float* direct, float* dz) {
  const Vec one = Splat(1.0f);
  const Vec r = Load(saved), z = Load(saved + stride);
  const Vec n = Load(saved + 2 * stride), g_n = Load(saved + 3 * stride);
  const Vec dh_t = Load(dh) + Load(dh_out);
  const Vec da_n = dh_t * (one - z) * (one - n * n);
  Store(dz, da_n * g_n * (r * (one - r)));
  Store(dz + stride, dh_t * (Load(h_prev) - n) * (z * (one - z)));
  Store(dz + 2 * stride, da_n);
  Store(dz + 3 * stride, da_n * r);
  Store(direct, dh_t * z);
}

ffi::Error GruForward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                      ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> u,
                      ffi::Buffer<ffi::F32> bias_hn, ffi::ResultBuffer<ffi::F32> hs,
                      ffi::ResultBuffer<ffi::F32> saved) {
  if (!ForwardShapes(x, w, bias, u, 3) ||
      static_cast<int64_t>(bias_hn.element_count()) != u.dimensions()[0])
    return ffi::Error::InvalidArgument(
        "gru_forward: expected x[T, B, D], W[D, 3H], b[3H], U[H, 3H] and b_hn[H]");
  const auto dims = x.dimensions();
  const int64_t hidden = u.dimensions()[0], width = 3 * hidden;
  const int64_t steps = dims[0], batch = dims[1], inputs = dims[2], padded = RoundUp(width);
  const int64_t whole = hidden / kLanes * kLanes;  // units the cells read in place
  const PaddedWeights pad = PadWeights(w, bias, u);
  Floats g_bias(padded, 0.0f);   // [0, 0, b_hn]: h W_h's bias
  std::memcpy(&g_bias[2 * hidden], bias_hn.typed_data(), hidden * sizeof(float));
  const float* x_in = x.typed_data();
  float* h_out = hs->typed_data();
  float* s_out = saved->typed_data();

  ParallelRows(pool, batch, [&](int64_t lo, int64_t hi) {
    const int64_t rows = hi - lo;
    Floats a(rows * padded, 0.0f), g(rows * padded, 0.0f);
    Floats zeros(rows * hidden, 0.0f);
    TailStage tail(rows, hidden - whole, 12);
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t base = t * batch + lo;
      const float* h_prev = t > 0 ? h_out + (base - batch) * hidden : zeros.data();
      Matmul(x_in + base * inputs, inputs, rows, inputs, pad.w.data(), padded, padded,
             pad.b.data(), 0, a.data(), padded);
      if (t > 0)
        Matmul(h_prev, hidden, rows, hidden, pad.u.data(), padded, padded, g_bias.data(), 0,
               g.data(), padded);
      else
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(&g[r * padded], g_bias.data(), padded * sizeof(float));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < whole; j += kLanes)
          GruForwardLanes(&a[r * padded + j], &g[r * padded + j], hidden,
                          h_prev + r * hidden + j, h_out + (base + r) * hidden + j,
                          s_out + (base + r) * 4 * hidden + j);
      if (whole == hidden) continue;
      // Tail arrays: 0-2 a, 3-5 g, 6 h_prev, 7 h, 8-11 saved.
      for (int64_t q = 0; q < 3; ++q) {
        tail.Gather(q, &a[q * hidden], padded, whole);
        tail.Gather(3 + q, &g[q * hidden], padded, whole);
      }
      tail.Gather(6, h_prev, hidden, whole);
      for (int64_t e = 0; e < tail.size(); e += kLanes)
        GruForwardLanes(tail[0] + e, tail[3] + e, tail.size(), tail[6] + e, tail[7] + e,
                        tail[8] + e);
      tail.Scatter(7, h_out + base * hidden, hidden, whole);
      for (int64_t q = 0; q < kSaved; ++q)
        tail.Scatter(8 + q, s_out + base * 4 * hidden + q * hidden, 4 * hidden, whole);
    }
  });
  return ffi::Error::Success();
}

// The reverse GRU recurrence; with w (f32[D, 3H]) it also writes dx_t = dz_t W^T.
ffi::Error GruBackwardImpl(ffi::ThreadPool& pool, ffi::Buffer<ffi::F32>& u, const float* w,
                           int64_t inputs, ffi::Buffer<ffi::F32>& hs,
                           ffi::Buffer<ffi::F32>& saved, ffi::Buffer<ffi::F32>& dhs,
                           ffi::Buffer<ffi::F32>& dh_last, float* dz_out, float* dx_out) {
  const auto dims = hs.dimensions();
  const int64_t steps = dims[0], batch = dims[1], hidden = dims[2];
  const int64_t width = 4 * hidden, padded = RoundUp(hidden), padded_in = RoundUp(inputs);
  const int64_t whole = hidden / kLanes * kLanes;
  if (u.dimensions().size() != 2 || u.dimensions()[0] != hidden ||
      u.dimensions()[1] != 3 * hidden || dhs.dimensions()[0] != steps ||
      saved.dimensions()[2] != width)
    return ffi::Error::InvalidArgument("gru_backward: inconsistent shapes");
  // f32[4H, ld]: row blocks r, z, n, g_n of dz_t; one matmul per step gives
  // dh_{t-1} - dh z = [da_r, da_z, dg_n] U^T (columns [0, H)) and
  // dx_t = [da_r, da_z, da_n] W^T (from column `padded`).
  const int64_t ld = padded + padded_in;
  Floats bt(width * ld, 0.0f);
  const float* u_in = u.typed_data();
  for (int64_t k = 0; k < hidden; ++k)
    for (int64_t j = 0; j < hidden; ++j) {
      bt[j * ld + k] = u_in[k * 3 * hidden + j];                                 // r
      bt[(hidden + j) * ld + k] = u_in[k * 3 * hidden + hidden + j];             // z
      bt[(3 * hidden + j) * ld + k] = u_in[k * 3 * hidden + 2 * hidden + j];     // g_n
    }
  for (int64_t k = 0; k < inputs; ++k)
    for (int64_t j = 0; j < 3 * hidden; ++j) bt[j * ld + padded + k] = w[k * 3 * hidden + j];
  const float* h_in = hs.typed_data();
  const float* s_in = saved.typed_data();
  const float* dh_in = dhs.typed_data();
  const float* dh_end = dh_last.typed_data();

  ParallelRows(pool, batch, [&](int64_t lo, int64_t hi) {
    const int64_t rows = hi - lo;
    Floats out(rows * ld, 0.0f);      // [dh | dx] of the step
    Floats direct(rows * ld, 0.0f);   // [dh z | 0]: added to the matmul's dh
    const Floats zeros(rows * hidden, 0.0f);
    TailStage tail(rows, hidden - whole, 12);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(&out[r * ld], dh_end + (lo + r) * hidden, hidden * sizeof(float));
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t base = t * batch + lo;
      const float* h_prev = t > 0 ? h_in + (base - batch) * hidden : zeros.data();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < whole; j += kLanes)
          GruBackwardLanes(s_in + (base + r) * width + j, hidden, h_prev + r * hidden + j,
                           dh_in + (base + r) * hidden + j, &out[r * ld + j],
                           &direct[r * ld + j], dz_out + (base + r) * width + j);
      if (whole < hidden) {
        // Tail arrays: 0-3 saved, 4 h_prev, 5 dh_out, 6 dh, 7 direct, 8-11 dz.
        for (int64_t q = 0; q < kSaved; ++q)
          tail.Gather(q, s_in + base * width + q * hidden, width, whole);
        tail.Gather(4, h_prev, hidden, whole);
        tail.Gather(5, dh_in + base * hidden, hidden, whole);
        tail.Gather(6, out.data(), ld, whole);
        for (int64_t e = 0; e < tail.size(); e += kLanes)
          GruBackwardLanes(tail[0] + e, tail.size(), tail[4] + e, tail[5] + e, tail[6] + e,
                           tail[7] + e, tail[8] + e);
        for (int64_t q = 0; q < kSaved; ++q)
          tail.Scatter(8 + q, dz_out + base * width + q * hidden, width, whole);
        tail.Scatter(7, direct.data(), ld, whole);
      }
      StepGradients(dz_out + base * width, width, rows, t, bt.data(), ld, padded, inputs,
                    direct.data(), out.data(), dx_out ? dx_out + base * inputs : nullptr);
    }
  });
  return ffi::Error::Success();
}

ffi::Error GruBackward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> u, ffi::Buffer<ffi::F32> hs,
                       ffi::Buffer<ffi::F32> saved, ffi::Buffer<ffi::F32> dhs,
                       ffi::Buffer<ffi::F32> dh_last, ffi::ResultBuffer<ffi::F32> dz) {
  return GruBackwardImpl(pool, u, nullptr, 0, hs, saved, dhs, dh_last, dz->typed_data(),
                         nullptr);
}

ffi::Error GruBackwardWithInputGrad(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> u,
                                    ffi::Buffer<ffi::F32> w, ffi::Buffer<ffi::F32> hs,
                                    ffi::Buffer<ffi::F32> saved, ffi::Buffer<ffi::F32> dhs,
                                    ffi::Buffer<ffi::F32> dh_last,
                                    ffi::ResultBuffer<ffi::F32> dz,
                                    ffi::ResultBuffer<ffi::F32> dx) {
  if (!InputKernelShapes(w, u, dx->dimensions().back()))
    return ffi::Error::InvalidArgument("gru_backward_dx: expected W[D, 3H] and dx[T, B, D]");
  const int64_t inputs = w.dimensions()[0];
  return GruBackwardImpl(pool, u, w.typed_data(), inputs, hs, saved, dhs, dh_last,
                         dz->typed_data(), dx->typed_data());
}

}  // namespace

// Every handler takes XLA's thread pool and f32 buffers. (A binding must be one chained
// expression: XLA's Binding cannot be moved into a helper, so macros spell the links.)
#define BIND_POOL ffi::Ffi::Bind().Ctx<ffi::ThreadPool>()
#define F32_ARG .Arg<ffi::Buffer<ffi::F32>>()
#define F32_RET .Ret<ffi::Buffer<ffi::F32>>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxLstmForward, Forward,
                              BIND_POOL F32_ARG F32_ARG F32_ARG F32_ARG
                                  F32_RET F32_RET F32_RET);

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxLstmBackward, Backward,
                              BIND_POOL F32_ARG F32_ARG F32_ARG F32_ARG F32_ARG
                                  F32_RET);

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxLstmBackwardWithInputGrad, BackwardWithInputGrad,
                              BIND_POOL F32_ARG F32_ARG F32_ARG F32_ARG F32_ARG F32_ARG
                                  F32_RET F32_RET);

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxGruForward, GruForward,
                              BIND_POOL F32_ARG F32_ARG F32_ARG F32_ARG F32_ARG
                                  F32_RET F32_RET);

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxGruBackward, GruBackward,
                              BIND_POOL F32_ARG F32_ARG F32_ARG F32_ARG F32_ARG
                                  F32_RET);

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxGruBackwardWithInputGrad, GruBackwardWithInputGrad,
                              BIND_POOL F32_ARG F32_ARG F32_ARG F32_ARG F32_ARG F32_ARG
                                  F32_RET F32_RET);
