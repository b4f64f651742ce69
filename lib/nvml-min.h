/* nvml-min.h - the few NVML types, constants and function signatures nrg uses (no vendor header). */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_NVML_MIN_H
#define NRG_NVML_MIN_H

/*
 * Declarations follow the layout of NVIDIA's public nvml.h (NVML API reference). Only what nrg
 * (lib/nvml.c) and the fake library (tests/fake/fake-nvml.c) use is declared here, so neither the
 * CUDA toolkit nor the driver headers are needed to build.
 */

typedef int nvmlReturn_t; /* the enum stored as int */

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_ALREADY_INITIALIZED 5
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_INSUFFICIENT_POWER 8
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_IRQ_ISSUE 11
#define NVML_ERROR_LIBRARY_NOT_FOUND 12
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_CORRUPTED_INFOROM 14
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_RESET_REQUIRED 16
#define NVML_ERROR_OPERATING_SYSTEM 17
#define NVML_ERROR_LIB_RM_VERSION_MISMATCH 18
#define NVML_ERROR_UNKNOWN 999

typedef struct nvmlDevice_st *nvmlDevice_t; /* opaque handle */

#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE 32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE 16
#define NVML_DEVICE_NAME_BUFFER_SIZE 64
#define NVML_DEVICE_UUID_BUFFER_SIZE 80

/* nvmlPciInfo_t as filled by nvmlDeviceGetPciInfo_v3 (and _v2). */
typedef struct nvmlPciInfo_st {
	char busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
	unsigned int domain;
	unsigned int bus;
	unsigned int device;
	unsigned int pciDeviceId;
	unsigned int pciSubSystemId;
	char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
} nvmlPciInfo_t;

typedef struct nvmlUtilization_st {
	unsigned int gpu;    /* percent of time a kernel ran */
	unsigned int memory; /* percent of time device memory was read or written */
} nvmlUtilization_t;

typedef union nvmlValue_st {
	double dVal;
	int siVal;
	unsigned int uiVal;
	unsigned long ulVal;
	unsigned long long ullVal;
	long long sllVal;
	unsigned short usVal;
} nvmlValue_t;

#define NVML_VALUE_TYPE_DOUBLE 0
#define NVML_VALUE_TYPE_UNSIGNED_INT 1
#define NVML_VALUE_TYPE_UNSIGNED_LONG 2
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_VALUE_TYPE_SIGNED_LONG_LONG 4
#define NVML_VALUE_TYPE_SIGNED_INT 5

typedef struct nvmlFieldValue_st {
	unsigned int fieldId;  /* NVML_FI_* (in) */
	unsigned int scopeId;  /* e.g. power scope: 0 = GPU (in) */
	long long timestamp;   /* CPU time of the value, µs (out) */
	long long latencyUsec; /* how long the value took to update inside NVML (out) */
	int valueType;         /* NVML_VALUE_TYPE_* (out) */
	nvmlReturn_t nvmlReturn; /* per-field status (out) */
	nvmlValue_t value;     /* (out) */
} nvmlFieldValue_t;

#define NVML_FI_DEV_POWER_AVERAGE 185 /* mW, about 1 s average */
#define NVML_FI_DEV_POWER_INSTANT 186 /* mW, short boxcar (25 ms on A100/H100) */

typedef unsigned int nvmlClockType_t;
#define NVML_CLOCK_GRAPHICS 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2

typedef unsigned int nvmlTemperatureSensors_t;
#define NVML_TEMPERATURE_GPU 0

typedef unsigned int nvmlDeviceArchitecture_t;
#define NVML_DEVICE_ARCH_KEPLER 2
#define NVML_DEVICE_ARCH_MAXWELL 3
#define NVML_DEVICE_ARCH_PASCAL 4
#define NVML_DEVICE_ARCH_VOLTA 5
#define NVML_DEVICE_ARCH_TURING 6
#define NVML_DEVICE_ARCH_AMPERE 7
#define NVML_DEVICE_ARCH_ADA 8
#define NVML_DEVICE_ARCH_HOPPER 9
#define NVML_DEVICE_ARCH_BLACKWELL 10
#define NVML_DEVICE_ARCH_UNKNOWN 0xffffffffu

/* Function pointer types, one per NVML entry point nrg resolves with dlsym(). */
typedef nvmlReturn_t (*nvml_init_fn)(void);
typedef nvmlReturn_t (*nvml_shutdown_fn)(void);
typedef const char *(*nvml_error_string_fn)(nvmlReturn_t result);
typedef nvmlReturn_t (*nvml_get_count_fn)(unsigned int *count);
typedef nvmlReturn_t (*nvml_get_handle_fn)(unsigned int index, nvmlDevice_t *device);
typedef nvmlReturn_t (*nvml_get_string_fn)(nvmlDevice_t device, char *buf, unsigned int length);
typedef nvmlReturn_t (*nvml_get_pci_fn)(nvmlDevice_t device, nvmlPciInfo_t *pci);
typedef nvmlReturn_t (*nvml_get_energy_fn)(nvmlDevice_t device, unsigned long long *energy_mj);
typedef nvmlReturn_t (*nvml_get_uint_fn)(nvmlDevice_t device, unsigned int *value);
typedef nvmlReturn_t (*nvml_get_fields_fn)(nvmlDevice_t device, int count, nvmlFieldValue_t *values);
typedef nvmlReturn_t (*nvml_get_constraints_fn)(nvmlDevice_t device, unsigned int *min_mw,
						unsigned int *max_mw);
typedef nvmlReturn_t (*nvml_get_util_fn)(nvmlDevice_t device, nvmlUtilization_t *util);
typedef nvmlReturn_t (*nvml_get_clock_fn)(nvmlDevice_t device, nvmlClockType_t type, unsigned int *mhz);
typedef nvmlReturn_t (*nvml_get_temp_fn)(nvmlDevice_t device, nvmlTemperatureSensors_t sensor,
					 unsigned int *celsius);
typedef nvmlReturn_t (*nvml_get_arch_fn)(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch);
typedef nvmlReturn_t (*nvml_set_limit_fn)(nvmlDevice_t device, unsigned int limit_mw);

/*
 * Whether the GPU with NVML index `index` and UUID `uuid` ("GPU-...", may be NULL or "") is
 * visible to a CUDA program run with CUDA_VISIBLE_DEVICES=cvd. cvd NULL means the variable is
 * unset: every GPU is visible. Otherwise cvd is a comma list of indices, "GPU-" UUIDs or UUID
 * prefixes, or "MIG-GPU-<uuid>/..." entries (which make their parent GPU visible); an empty
 * list hides every GPU, and, as CUDA does, the list stops at its first invalid entry (an empty
 * entry, a negative or malformed number, anything else). `n_gpus` (0 = unknown) lets an index
 * >= n_gpus count as invalid too. Returns 1 if visible, 0 if not.
 */
int nrg_nvml_visible_n(const char *cvd, unsigned index, const char *uuid, unsigned n_gpus);
/* nrg_nvml_visible_n() with the GPU count unknown. */
int nrg_nvml_visible(const char *cvd, unsigned index, const char *uuid);

#endif
