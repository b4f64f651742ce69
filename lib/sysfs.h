/* sysfs.h - small, allocation-free readers for sysfs/procfs attribute files. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_SYSFS_H
#define NRG_SYSFS_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole small file (path) into buf (NUL-terminated, trailing newline stripped).
 * Returns the length, or -errno (-ENOENT, -EACCES, -E2BIG if it does not fit). */
int nrg_sysfs_read_str(const char *path, char *buf, size_t n);
/* Read an unsigned decimal integer attribute. Returns 0 or -errno (-EINVAL if not a number). */
int nrg_sysfs_read_u64(const char *path, uint64_t *out);
/* Parse an unsigned decimal integer from the start of buf (leading spaces allowed, trailing
 * whitespace allowed, nothing else). Returns 0 or -EINVAL / -ERANGE. */
int nrg_parse_u64(const char *buf, uint64_t *out);
/* pread an unsigned decimal integer from an fd kept open (offset 0). Returns 0 or -errno. */
int nrg_sysfs_pread_u64(int fd, uint64_t *out);

#endif
