#include "io/dtype.h"

#include <array>
#include <bit>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace r1 {

namespace {

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<DTypeEntry, 10> kDTypes{{
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::F64, "F64", 8},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
}};

const DTypeEntry& entry(DType dt) {
  for (const auto& e : kDTypes)
    if (e.dtype == dt) return e;
  fail("internal error: invalid DType value {}", static_cast<int>(dt));
}

}  // namespace

size_t dtype_size(DType dt) {
  return entry(dt).size;
}

std::string_view dtype_name(DType dt) {
  return entry(dt).name;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kDTypes)
    if (e.name == name) return e.dtype;
  return std::nullopt;
}

float bf16_to_f32(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

uint16_t f32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  // Truncating a NaN could clear every mantissa bit (giving inf), so force the quiet bit.
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);
  // Adding 0x7fff plus the lowest kept bit rounds half-way cases to even; a carry out of
  // the mantissa correctly bumps the exponent (up to inf).
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exactly representable as a normal float32.
    const float mag = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(mag));
  }
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  return std::bit_cast<float>(sign | ((exp + (127 - 15)) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u)  // NaN: keep the top payload bits and force the quiet bit
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  // 65520 = 0x477ff000 is half-way between 65504 (max f16, odd mantissa) and 65536: ties to
  // even round it up, so everything from there on (and inf) is inf.
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax < 0x38800000u) {
    // Below 2^-14: the result is an f16 subnormal, i.e. a multiple of 2^-24.
    const uint32_t e = ax >> 23;  // biased float32 exponent
    if (e < 102) return sign;     // < 2^-25: at most half of the smallest subnormal -> 0
    // value = m * 2^(e-150) with a 24-bit significand m; in units of 2^-24 that is
    // m >> (126 - e) with the shifted-out bits rounded to nearest even.
    const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias the exponent and round the mantissa from 23 to 10 bits (ties to even).
  uint32_t r = ax - ((127u - 15u) << 23);
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

void convert_to_f32(DType dt, const void* src, float* dst, size_t n) {
  if (n == 0) return;
  const auto* s = static_cast<const uint8_t*>(src);
  switch (dt) {
    case DType::F32:
      std::memcpy(dst, s, n * sizeof(float));
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, s + 2 * i, 2);  // src may be unaligned
        dst[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, s + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    default:
      fail("cannot convert {} data to F32 (only F32, F16 and BF16 are supported)", dtype_name(dt));
  }
}

}  // namespace r1
