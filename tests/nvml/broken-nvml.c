/* broken-nvml.c - an "NVML" library exporting only nvmlInit_v2, to test the missing-symbol path. */
/* SPDX-License-Identifier: MIT */

/* Succeeds; every other entry point is missing on purpose. */
int nvmlInit_v2(void);
int nvmlInit_v2(void)
{
	return 0;
}
