/*
 * CRC-32C (Castagnoli), the checksum of every replicated command.
 *
 * Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF:
 * the variant of iSCSI, ext4 and SSE4.2's crc32 instruction. The
 * instruction is used where the CPU has it; the software path gives the same
 * values, so every machine in a cluster agrees.
 */
#ifndef WR_LIB_CRC32C_H
#define WR_LIB_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Return the CRC-32C of @len bytes at @buf, continuing from @crc.
 *
 * Pass 0 to start; pass an earlier result to continue it, so that
 * crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b. The check
 * value crc32c(0, "123456789", 9) is 0xE3069283. @buf may be NULL when @len
 * is 0. No reference is kept; safe to call from any thread. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The same, always in software (slice-by-8): for the tests, which check both
 * paths. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif /* WR_LIB_CRC32C_H */
