// The LSTM recurrence as two XLA FFI kernels for CPUs: forward and backward.
//
// On XLA:CPU a small LSTM's time goes to per-step dispatch (one small matmul and a few
// fusions per step, each a separate kernel launch), not to arithmetic. These kernels run
// the whole time loop in one call, with the gates' arithmetic fused into each step and the
// batch rows split across XLA's intra-op thread pool (rows are independent, so the threads
// never synchronise inside the loop).
//
// The mathematics is that of fjax/models/lstm_layer.py, step for step:
//   z_t = xw_t + h_{t-1} U,  [i, f, g, o] = [s(z_i), s(z_f), tanh(z_g), s(z_o)],
//   c_t = f c_{t-1} + i g,   h_t = o tanh(c_t),   s(x) = 0.5 tanh(x / 2) + 0.5,
// with tanh evaluated by the rational approximation XLA:CPU and Eigen use for float32.
// Only the recurrence is here; the input projection and the weight gradient are large
// matmuls that XLA runs well.
//
// Layouts (row-major, time-major): xw f32[T, B, 4H], U f32[H, 4H], hs/cs f32[T, B, H],
// gates f32[T, B, 4H] holding the activated [i, f, g, o].

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kLanes = 16;  // floats per vector register block (one AVX-512 register)
typedef float Vec __attribute__((vector_size(4 * kLanes)));
typedef float VecU __attribute__((vector_size(4 * kLanes), aligned(4)));

inline Vec Load(const float* p) { return *reinterpret_cast<const VecU*>(p); }
inline void Store(float* p, Vec v) { *reinterpret_cast<VecU*>(p) = v; }
inline int64_t RoundUp(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

// tanh as XLA:CPU computes it for float32: a [13/6] rational function on [-9, 9].
inline float Tanh(float x) {
  const float clamped = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
  const float x2 = clamped * clamped;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * clamped;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float r = p / q;
  return (x < 0.0004f && x > -0.0004f) ? x : r;
}

inline float Sigmoid(float x) { return 0.5f * Tanh(0.5f * x) + 0.5f; }

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

// One panel of J vectors of columns, all m rows, blocks of R rows (tail: one row).
template <int R, int J>
void MatmulPanel(const float* a, int64_t lda, int64_t m, int64_t k, const float* b,
                 int64_t ldb, const float* c_in, int64_t ldc_in, float* c, int64_t ldc) {
  int64_t row = 0;
  for (; row + R <= m; row += R)
    MatmulBlock<R, J>(a + row * lda, lda, k, b, ldb, c_in ? c_in + row * ldc_in : nullptr,
                      ldc_in, c + row * ldc, ldc);
  for (; row < m; ++row)
    MatmulBlock<1, J>(a + row * lda, lda, k, b, ldb, c_in ? c_in + row * ldc_in : nullptr,
                      ldc_in, c + row * ldc, ldc);
}

// c[m, n] = c_in[m, n] (or 0) + a[m, k] @ b[k, n], n a multiple of kLanes: panels of
// 4 (the last one up to 7) vectors of columns, so each panel of b stays in L1 while
// every row passes over it.
void Matmul(const float* a, int64_t lda, int64_t m, int64_t k, const float* b, int64_t n,
            const float* c_in, int64_t ldc_in, float* c, int64_t ldc) {
  const int64_t vectors = n / kLanes;
  for (int64_t v = 0; v < vectors;) {
    const int64_t left = vectors - v;
    const int64_t take = left >= 8 ? 4 : left;
    const float* in = c_in ? c_in + v * kLanes : nullptr;
    const int64_t col = v * kLanes;
    switch (take) {
      case 1: MatmulPanel<8, 1>(a, lda, m, k, b + col, n, in, ldc_in, c + col, ldc); break;
      case 2: MatmulPanel<6, 2>(a, lda, m, k, b + col, n, in, ldc_in, c + col, ldc); break;
      case 3: MatmulPanel<6, 3>(a, lda, m, k, b + col, n, in, ldc_in, c + col, ldc); break;
      case 4: MatmulPanel<6, 4>(a, lda, m, k, b + col, n, in, ldc_in, c + col, ldc); break;
      case 5: MatmulPanel<4, 5>(a, lda, m, k, b + col, n, in, ldc_in, c + col, ldc); break;
      case 6: MatmulPanel<3, 6>(a, lda, m, k, b + col, n, in, ldc_in, c + col, ldc); break;
      default: MatmulPanel<3, 7>(a, lda, m, k, b + col, n, in, ldc_in, c + col, ldc); break;
    }
    v += take;
  }
}

// One row's step: gates from pre-activations z[4n]; updates the cell state c_state[n].
void ForwardCell(const float* __restrict z, int64_t n, float* __restrict c_state,
                 float* __restrict h, float* __restrict c, float* __restrict gates) {
  for (int64_t j = 0; j < n; ++j) {
    const float i = Sigmoid(z[j]), f = Sigmoid(z[n + j]);
    const float g = Tanh(z[2 * n + j]), o = Sigmoid(z[3 * n + j]);
    const float c_new = f * c_state[j] + i * g;
    c_state[j] = c_new;
    c[j] = c_new;
    h[j] = o * Tanh(c_new);
    gates[j] = i;
    gates[n + j] = f;
    gates[2 * n + j] = g;
    gates[3 * n + j] = o;
  }
}

// One row's reverse step: dz[4n] from the step's gates, cell states and the incoming
// gradients; dh[n] holds dz_{t+1} U^T on entry, dc[n] is carried to step t - 1.
void BackwardCell(const float* __restrict gates, const float* __restrict c,
                  const float* __restrict c_prev, const float* __restrict dh_out, int64_t n,
                  const float* __restrict dh, float* __restrict dc, float* __restrict dz) {
  for (int64_t j = 0; j < n; ++j) {
    const float i = gates[j], f = gates[n + j], g = gates[2 * n + j], o = gates[3 * n + j];
    const float tc = Tanh(c[j]);
    const float dh_j = dh[j] + dh_out[j];
    const float dc_j = dc[j] + dh_j * (o * (1.0f - tc * tc));
    dz[j] = dc_j * (g * (i * (1.0f - i)));
    dz[n + j] = dc_j * (c_prev[j] * (f * (1.0f - f)));
    dz[2 * n + j] = dc_j * (i * (1.0f - g * g));
    dz[3 * n + j] = dh_j * (tc * (o * (1.0f - o)));
    dc[j] = dc_j * f;
  }
}

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

ffi::Error Forward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> xw, ffi::Buffer<ffi::F32> u,
                   ffi::ResultBuffer<ffi::F32> hs, ffi::ResultBuffer<ffi::F32> cs,
                   ffi::ResultBuffer<ffi::F32> gates) {
  const auto dims = xw.dimensions();
  if (dims.size() != 3 || u.dimensions().size() != 2 || dims[2] != 4 * u.dimensions()[0] ||
      u.dimensions()[1] != dims[2])
    return ffi::Error::InvalidArgument("lstm_forward: expected xw[T, B, 4H] and U[H, 4H]");
  const int64_t steps = dims[0], batch = dims[1], hidden = u.dimensions()[0];
  const int64_t width = 4 * hidden, padded = RoundUp(width);
  // U with its columns padded to a multiple of the vector width.
  std::vector<float> u_pad(hidden * padded, 0.0f);
  for (int64_t k = 0; k < hidden; ++k)
    std::memcpy(&u_pad[k * padded], u.typed_data() + k * width, width * sizeof(float));
  const float* x = xw.typed_data();
  float* h_out = hs->typed_data();
  float* c_out = cs->typed_data();
  float* s_out = gates->typed_data();

  ParallelRows(pool, batch, [&](int64_t lo, int64_t hi) {
    const int64_t rows = hi - lo;
    std::vector<float> z(rows * padded, 0.0f);
    std::vector<float> c_prev(rows * hidden, 0.0f);
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t base = t * batch + lo;
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(&z[r * padded], x + (base + r) * width, width * sizeof(float));
      if (t > 0)
        Matmul(h_out + (base - batch) * hidden, hidden, rows, hidden, u_pad.data(), padded,
               z.data(), padded, z.data(), padded);
      for (int64_t r = 0; r < rows; ++r)
        ForwardCell(&z[r * padded], hidden, &c_prev[r * hidden], h_out + (base + r) * hidden,
                    c_out + (base + r) * hidden, s_out + (base + r) * width);
    }
  });
  return ffi::Error::Success();
}

ffi::Error Backward(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> u, ffi::Buffer<ffi::F32> cs,
                    ffi::Buffer<ffi::F32> gates, ffi::Buffer<ffi::F32> dhs,
                    ffi::Buffer<ffi::F32> dh_last, ffi::ResultBuffer<ffi::F32> dz) {
  const auto dims = cs.dimensions();
  const int64_t steps = dims[0], batch = dims[1], hidden = dims[2];
  const int64_t width = 4 * hidden, padded = RoundUp(hidden);
  if (u.dimensions()[0] != hidden || u.dimensions()[1] != width ||
      dhs.dimensions()[0] != steps || gates.dimensions()[2] != width)
    return ffi::Error::InvalidArgument("lstm_backward: inconsistent shapes");
  // U transposed, f32[4H, H], columns padded: dh_{t-1} = dz_t U^T.
  std::vector<float> ut_pad(width * padded, 0.0f);
  for (int64_t k = 0; k < hidden; ++k)
    for (int64_t j = 0; j < width; ++j) ut_pad[j * padded + k] = u.typed_data()[k * width + j];
  const float* c_in = cs.typed_data();
  const float* s_in = gates.typed_data();
  const float* dh_in = dhs.typed_data();
  const float* dh_end = dh_last.typed_data();
  float* dz_out = dz->typed_data();

  ParallelRows(pool, batch, [&](int64_t lo, int64_t hi) {
    const int64_t rows = hi - lo;
    std::vector<float> dh(rows * padded, 0.0f);
    std::vector<float> dc(rows * hidden, 0.0f);
    const std::vector<float> zeros(hidden, 0.0f);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(&dh[r * padded], dh_end + (lo + r) * hidden, hidden * sizeof(float));
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t base = t * batch + lo;
      for (int64_t r = 0; r < rows; ++r)
        BackwardCell(s_in + (base + r) * width, c_in + (base + r) * hidden,
                     t > 0 ? c_in + (base - batch + r) * hidden : zeros.data(),
                     dh_in + (base + r) * hidden, hidden, &dh[r * padded], &dc[r * hidden],
                     dz_out + (base + r) * width);
      if (t > 0)
        Matmul(dz_out + base * width, width, rows, width, ut_pad.data(), padded, nullptr, 0,
               dh.data(), padded);
    }
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxLstmForward, Forward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(FjaxLstmBackward, Backward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
