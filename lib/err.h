/* err.h - the sentence a failing libnrg call leaves in its caller's err buffer. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_ERR_H
#define NRG_ERR_H

#include <stddef.h>

/* printf into err (errlen bytes); nothing when err is NULL or errlen 0. */
void nrg__seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
