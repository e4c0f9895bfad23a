// Element types of stored tensors (safetensors / GGUF) and the float conversions between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace r1 {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

// Bytes per element.
size_t dtype_size(DType dt);
// Safetensors spelling: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL".
std::string_view dtype_name(DType dt);
// Inverse of dtype_name (exact, case-sensitive); nullopt for anything else.
std::optional<DType> dtype_from_name(std::string_view name);

// bfloat16 is the top half of an IEEE float32.
float bf16_to_f32(uint16_t h);
// Round to nearest, ties to even; NaN stays NaN (quiet, sign kept); overflow gives inf.
uint16_t f32_to_bf16(float f);
// IEEE binary16 -> float32, exact (subnormals, inf and NaN included).
float f16_to_f32(uint16_t h);
// float32 -> IEEE binary16, round to nearest, ties to even; values >= 65520 become inf,
// tiny values become f16 subnormals or signed zero, NaN stays NaN.
uint16_t f32_to_f16(float f);

// Converts n elements of type dt at src (any alignment) to float32. Supports F32, F16 and
// BF16; any other dtype is an r1::Error.
void convert_to_f32(DType dt, const void* src, float* dst, size_t n);

}  // namespace r1
