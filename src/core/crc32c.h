// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final
// XOR 0xFFFFFFFF) as the change-log frames use it. crc32c() in changelog.h
// picks the SSE4.2 instruction when the CPU has it; this is the portable
// slicing-by-8 form, exposed so tests can compare the two.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgestate::core {

uint32_t crc32c_portable(const uint8_t *data, size_t size);

}  // namespace edgestate::core
