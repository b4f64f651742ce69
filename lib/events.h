/* events.h - the region event ring shared by the workload's processes and the recorder. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_EVENTS_H
#define NRG_EVENTS_H

#include "nrg.h"

#define NRG_RING_DEFAULT_CAP 65536u /* events; 128 bytes each: 8 MiB */

struct nrg_ring;

/* Create a ring for `capacity` events (a power of two). With a path, the ring is a file there
 * (mode 0600) that other processes attach to through NRG_EVENTS; with NULL, anonymous memory
 * for this process only. Returns 0 or -errno with a sentence in err. */
int nrg_ring_create(struct nrg_ring **out, const char *path, uint32_t capacity, char *err, size_t errlen);
/* Unmap; a ring created with a path is also removed. */
void nrg_ring_destroy(struct nrg_ring *r);
/* Copy up to max committed events, in claim order, and free their slots. A slot claimed but
 * not committed for more than a second (its writer died mid-write) is skipped and counted as
 * dropped. Single reader. Returns the number copied. */
size_t nrg_ring_drain(struct nrg_ring *r, struct nrg_event *out, size_t max);
/* Events lost: the ring was full, or a writer died mid-write. */
uint64_t nrg_ring_dropped(const struct nrg_ring *r);

/* Direct this process's events to r (an in-process monitor), or back to NRG_EVENTS with NULL. */
void nrg__events_local(struct nrg_ring *r);
/* Write one event as given (pid, tid and t_us included) to the process's ring. The CLI's
 * `nrg mark` uses it to speak for its shell. Returns 0, -ENOTCONN, -ENOBUFS. */
int nrg__event_emit(const struct nrg_event *ev);

/* Have the recorder's writer store the events of this ring with the samples, about every
 * second and at stop. The ring must outlive the recorder. */
void nrg__recorder_events(nrg_recorder *r, struct nrg_ring *ring);

#endif
