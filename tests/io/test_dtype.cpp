#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "io/dtype.h"

namespace {

using r1::DType;

uint32_t bits(float f) {
  return std::bit_cast<uint32_t>(f);
}
float from_bits(uint32_t b) {
  return std::bit_cast<float>(b);
}

// Reference f32 -> bf16 rounding through double arithmetic: pick the nearer of the two
// bf16 neighbours (truncation and truncation + 1 ulp), ties to the even one.
uint16_t ref_f32_to_bf16(float f) {
  const uint32_t x = bits(f);
  const auto lo = static_cast<uint16_t>(x >> 16);
  const auto hi = static_cast<uint16_t>(lo + 1);
  const double v = std::fabs(static_cast<double>(f));
  const double a = std::fabs(static_cast<double>(r1::bf16_to_f32(lo)));
  // The upper neighbour of the largest finite magnitude is inf; treat it as 2^128.
  const double b =
      (hi & 0x7fff) == 0x7f80 ? std::ldexp(1.0, 128) : std::fabs(static_cast<double>(r1::bf16_to_f32(hi)));
  if (v - a < b - v) return lo;
  if (v - a > b - v) return hi;
  return (lo & 1) ? hi : lo;
}

}  // namespace

TEST(DType, NamesSizesAndLookup) {
  const std::vector<std::pair<DType, size_t>> all = {
      {DType::F32, 4}, {DType::F16, 2}, {DType::BF16, 2}, {DType::F64, 8}, {DType::I64, 8},
      {DType::I32, 4}, {DType::I16, 2}, {DType::I8, 1},   {DType::U8, 1},  {DType::BOOL, 1}};
  for (const auto& [dt, size] : all) {
    EXPECT_EQ(r1::dtype_size(dt), size) << r1::dtype_name(dt);
    const auto back = r1::dtype_from_name(r1::dtype_name(dt));
    ASSERT_TRUE(back.has_value()) << r1::dtype_name(dt);
    EXPECT_EQ(*back, dt);
  }
  EXPECT_EQ(r1::dtype_name(DType::BF16), "BF16");
  EXPECT_EQ(r1::dtype_name(DType::BOOL), "BOOL");
  EXPECT_FALSE(r1::dtype_from_name("f32").has_value());
  EXPECT_FALSE(r1::dtype_from_name("F8_E4M3").has_value());
  EXPECT_FALSE(r1::dtype_from_name("").has_value());
}

TEST(DType, BF16ToF32RepresentativeValues) {
  EXPECT_EQ(r1::bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(r1::bf16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(bits(r1::bf16_to_f32(0x8000)), 0x80000000u);  // -0
  EXPECT_EQ(r1::bf16_to_f32(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(r1::bf16_to_f32(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(r1::bf16_to_f32(0x7fc0)));
  EXPECT_EQ(bits(r1::bf16_to_f32(0x0001)), 0x00010000u);  // subnormal
}

TEST(DType, F32ToBF16RoundsToNearestEven) {
  EXPECT_EQ(r1::f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(r1::f32_to_bf16(from_bits(0x3f808000)), 0x3f80);  // tie, lower is even
  EXPECT_EQ(r1::f32_to_bf16(from_bits(0x3f818000)), 0x3f82);  // tie, upper is even
  EXPECT_EQ(r1::f32_to_bf16(from_bits(0x3f808001)), 0x3f81);  // just above the tie
  EXPECT_EQ(r1::f32_to_bf16(from_bits(0x3f807fff)), 0x3f80);  // just below the tie
  EXPECT_EQ(r1::f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(r1::f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(r1::f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(r1::f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  // f32 subnormals: ties to even and carries.
  EXPECT_EQ(r1::f32_to_bf16(from_bits(0x00008000)), 0x0000);
  EXPECT_EQ(r1::f32_to_bf16(from_bits(0x00018000)), 0x0002);
  EXPECT_EQ(r1::f32_to_bf16(from_bits(0x007fffff)), 0x0080);  // largest subnormal -> smallest normal
  // NaNs stay NaNs, even when every kept mantissa bit would be zero.
  for (uint32_t nan : {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7fffffffu}) {
    const uint16_t h = r1::f32_to_bf16(from_bits(nan));
    EXPECT_TRUE(std::isnan(r1::bf16_to_f32(h))) << std::hex << nan;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000);
  }
}

TEST(DType, BF16RoundTripsEveryValue) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = r1::bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(r1::bf16_to_f32(r1::f32_to_bf16(f))));
    } else {
      ASSERT_EQ(r1::f32_to_bf16(f), h) << std::hex << h;
    }
  }
}

TEST(DType, F32ToBF16MatchesReferenceOnSampledFloats) {
  // Every 251st bit pattern covers all exponents and many rounding situations.
  for (uint64_t b = 0; b <= 0xffffffffull; b += 251) {
    const float f = from_bits(static_cast<uint32_t>(b));
    if (std::isnan(f) || std::isinf(f)) continue;
    ASSERT_EQ(r1::f32_to_bf16(f), ref_f32_to_bf16(f)) << std::hex << b;
  }
}

TEST(DType, F16ToF32RepresentativeValues) {
  EXPECT_EQ(r1::f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(r1::f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(r1::f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(r1::f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(r1::f16_to_f32(0x0400), std::ldexp(1.0f, -14));         // smallest normal
  EXPECT_EQ(r1::f16_to_f32(0x0001), std::ldexp(1.0f, -24));         // smallest subnormal
  EXPECT_EQ(r1::f16_to_f32(0x03ff), 1023 * std::ldexp(1.0f, -24));  // largest subnormal
  EXPECT_EQ(r1::f16_to_f32(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(bits(r1::f16_to_f32(0x0000)), 0x00000000u);
  EXPECT_EQ(bits(r1::f16_to_f32(0x8000)), 0x80000000u);
  EXPECT_EQ(r1::f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(r1::f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(r1::f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(r1::f16_to_f32(0x7c01)));  // signalling NaN payload kept
  EXPECT_TRUE(std::isnan(r1::f16_to_f32(0xfe00)));
}

TEST(DType, F32ToF16RoundsToNearestEven) {
  EXPECT_EQ(r1::f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(r1::f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(r1::f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie, lower even
  EXPECT_EQ(r1::f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie, upper even
  EXPECT_EQ(r1::f32_to_f16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3c01);
  EXPECT_EQ(r1::f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(r1::f32_to_f16(65519.996f), 0x7bff);
  EXPECT_EQ(r1::f32_to_f16(65520.0f), 0x7c00);  // tie with an odd max rounds to inf
  EXPECT_EQ(r1::f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(r1::f32_to_f16(-1e9f), 0xfc00);
  EXPECT_EQ(r1::f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(r1::f32_to_f16(-0.0f), 0x8000);
  // Subnormal results.
  const float s = std::ldexp(1.0f, -24);
  EXPECT_EQ(r1::f32_to_f16(s), 0x0001);
  EXPECT_EQ(r1::f32_to_f16(0.5f * s), 0x0000);  // tie -> even (0)
  EXPECT_EQ(r1::f32_to_f16(std::nextafter(0.5f * s, 1.0f)), 0x0001);
  EXPECT_EQ(r1::f32_to_f16(1.5f * s), 0x0002);  // tie -> even (2)
  EXPECT_EQ(r1::f32_to_f16(2.5f * s), 0x0002);  // tie -> even (2)
  EXPECT_EQ(r1::f32_to_f16(-1.5f * s), 0x8002);
  EXPECT_EQ(r1::f32_to_f16(1023.5f * s), 0x0400);  // largest subnormal tie carries to normal
  EXPECT_EQ(r1::f32_to_f16(1e-10f), 0x0000);
  EXPECT_EQ(r1::f32_to_f16(-1e-10f), 0x8000);
  EXPECT_EQ(r1::f32_to_f16(from_bits(0x00000001)), 0x0000);  // f32 subnormal
  // NaN stays NaN with its sign.
  for (uint32_t nan : {0x7f800001u, 0xff800001u, 0x7fc00000u, 0x7fffffffu}) {
    const uint16_t h = r1::f32_to_f16(from_bits(nan));
    EXPECT_TRUE(std::isnan(r1::f16_to_f32(h))) << std::hex << nan;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000);
  }
}

TEST(DType, F16RoundTripsEveryValue) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = r1::f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(r1::f16_to_f32(r1::f32_to_f16(f))));
    } else {
      ASSERT_EQ(r1::f32_to_f16(f), h) << std::hex << h;
    }
  }
}

#if defined(__FLT16_MAX__)
// The compiler's _Float16 conversion (IEEE round to nearest even) as an independent reference.
TEST(DType, F32ToF16MatchesCompilerOnSampledFloats) {
  for (uint64_t b = 0; b <= 0xffffffffull; b += 251) {
    const float f = from_bits(static_cast<uint32_t>(b));
    if (std::isnan(f)) continue;
    const auto ref = static_cast<_Float16>(f);
    uint16_t ref_bits;
    std::memcpy(&ref_bits, &ref, 2);
    ASSERT_EQ(r1::f32_to_f16(f), ref_bits) << std::hex << b;
  }
}
#endif

TEST(DType, ConvertToF32HandlesUnalignedSources) {
  const std::vector<float> want = {1.0f, -2.5f, 0.0f, 65504.0f, std::ldexp(1.0f, -24), -0.375f};
  const size_t n = want.size();
  std::vector<uint8_t> buf(1 + 4 * n);  // +1 so src is deliberately misaligned
  std::vector<float> got(n);

  std::memcpy(buf.data() + 1, want.data(), 4 * n);
  r1::convert_to_f32(DType::F32, buf.data() + 1, got.data(), n);
  EXPECT_EQ(got, want);

  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = r1::f32_to_f16(want[i]);
    std::memcpy(buf.data() + 1 + 2 * i, &h, 2);
  }
  r1::convert_to_f32(DType::F16, buf.data() + 1, got.data(), n);
  EXPECT_EQ(got, want);  // all values are exact in f16

  for (size_t i = 0; i < n; ++i) {
    const uint16_t h = r1::f32_to_bf16(want[i]);
    std::memcpy(buf.data() + 1 + 2 * i, &h, 2);
  }
  r1::convert_to_f32(DType::BF16, buf.data() + 1, got.data(), n);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(got[i], r1::bf16_to_f32(r1::f32_to_bf16(want[i])));
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[1], -2.5f);

  r1::convert_to_f32(DType::F16, nullptr, nullptr, 0);  // n == 0 touches nothing
}

TEST(DType, ConvertToF32RejectsOtherDTypes) {
  const int32_t src[2] = {1, 2};
  float dst[2];
  for (DType dt : {DType::I32, DType::F64, DType::U8, DType::BOOL}) {
    try {
      r1::convert_to_f32(dt, src, dst, 1);
      ADD_FAILURE() << "no error for " << r1::dtype_name(dt);
    } catch (const r1::Error& e) {
      EXPECT_NE(std::string(e.what()).find(r1::dtype_name(dt)), std::string::npos) << e.what();
    }
  }
}
