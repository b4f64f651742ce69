/* events.c - region events: the lock-free shared ring, and the public region/mark calls. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "events.h"

/*
 * Layout of a ring (a file named by NRG_EVENTS, or anonymous memory): a 128-byte header, then
 * `capacity` 128-byte slots. Writers (any thread of any process) claim a slot by advancing
 * `head` with a compare-and-swap while head - tail < capacity, fill it, then publish it by
 * storing seq = claim + 1 with release order. The single reader (the recorder) copies slots
 * in claim order while their seq matches, then advances `tail`. On a full ring a writer
 * waits for room at most FULL_WAIT_US (the recorder drains every 20 ms), then drops the event
 * and counts it.
 */
#define RING_MAGIC 0x31766567726e00ull /* "\0nrgev1" */
#define SLOT_SIZE 128u
#define STUCK_US 1000000u
#define FULL_WAIT_US 250000u /* a writer waits at most this long for room, then drops */

struct ring_header {
	uint64_t magic;
	uint32_t version, slot_size;
	uint64_t capacity;
	_Atomic uint64_t head;    /* slots claimed */
	_Atomic uint64_t tail;    /* slots consumed */
	_Atomic uint64_t dropped; /* events lost */
	char pad[128 - 48];
};

struct slot {
	_Atomic uint64_t seq; /* claim index + 1 once the event is written */
	struct nrg_event ev;
	char pad[SLOT_SIZE - sizeof(uint64_t) - sizeof(struct nrg_event)];
};

_Static_assert(sizeof(struct ring_header) == 128, "ring header is 128 bytes");
_Static_assert(sizeof(struct slot) == SLOT_SIZE, "slots are 128 bytes");

struct nrg_ring {
	struct ring_header *h;
	struct slot *slots;
	size_t map_len;
	char *path;          /* removed at destroy, if created with a path */
	uint64_t stuck_at;   /* reader: the claim index found uncommitted, and since when */
	uint64_t stuck_since;
	bool have_stuck;
};

static size_t ring_bytes(uint32_t cap)
{
	return sizeof(struct ring_header) + (size_t)cap * SLOT_SIZE;
}

int nrg_ring_create(struct nrg_ring **out, const char *path, uint32_t capacity, char *err, size_t errlen)
{
	struct nrg_ring *r;
	size_t len;
	void *m;
	int fd = -1;

	*out = NULL;
	if (!capacity || (capacity & (capacity - 1))) {
		snprintf(err, errlen, "event ring capacity must be a power of two");
		return -EINVAL;
	}
	len = ring_bytes(capacity);
	if (path) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
			int e = errno;

			snprintf(err, errlen, "cannot create the event ring %s: %s", path, strerror(e));
			if (fd >= 0) {
				close(fd);
				unlink(path);
			}
			return -e;
		}
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	} else {
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	}
	if (m == MAP_FAILED) {
		int e = errno;

		snprintf(err, errlen, "cannot map the event ring: %s", strerror(e));
		if (path)
			unlink(path);
		return -e;
	}
	r = calloc(1, sizeof *r);
	if (!r || (path && !(r->path = strdup(path)))) {
		munmap(m, len);
		if (path)
			unlink(path);
		free(r);
		return -ENOMEM;
	}
	r->h = m;
	r->slots = (struct slot *)((char *)m + sizeof(struct ring_header));
	r->map_len = len;
	r->h->version = 1;
	r->h->slot_size = SLOT_SIZE;
	r->h->capacity = capacity;
	atomic_store(&r->h->head, 0);
	atomic_store(&r->h->tail, 0);
	atomic_store(&r->h->dropped, 0);
	atomic_store_explicit((_Atomic uint64_t *)&r->h->magic, RING_MAGIC, memory_order_release);
	*out = r;
	return 0;
}

void nrg_ring_destroy(struct nrg_ring *r)
{
	if (!r)
		return;
	munmap(r->h, r->map_len);
	if (r->path)
		unlink(r->path);
	free(r->path);
	free(r);
}

size_t nrg_ring_drain(struct nrg_ring *r, struct nrg_event *out, size_t max)
{
	uint64_t cap = r->h->capacity, tail = atomic_load_explicit(&r->h->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
	size_t n = 0;

	while (tail < head && n < max) {
		struct slot *s = &r->slots[tail & (cap - 1)];

		if (atomic_load_explicit(&s->seq, memory_order_acquire) != tail + 1) {
			/* claimed, not yet written: wait for it, unless its writer died mid-write */
			uint64_t now = nrg_now_us();

			if (!r->have_stuck || r->stuck_at != tail) {
				r->have_stuck = true;
				r->stuck_at = tail;
				r->stuck_since = now;
				break;
			}
			if (now - r->stuck_since < STUCK_US)
				break;
			atomic_fetch_add(&r->h->dropped, 1);
			tail++;
			continue;
		}
		out[n++] = s->ev;
		tail++;
	}
	atomic_store_explicit(&r->h->tail, tail, memory_order_release);
	return n;
}

uint64_t nrg_ring_dropped(const struct nrg_ring *r)
{
	return atomic_load(&((struct ring_header *)r->h)->dropped);
}

/* ---- the process's side: attach once, write events ---------------------------------------- */

static struct {
	pthread_once_t once;
	struct ring_header *h; /* NULL: nobody watches */
	struct slot *slots;
	struct nrg_ring *local; /* an in-process monitor's ring, which wins */
	pid_t pid;              /* cached; refreshed after fork */
	_Atomic unsigned fork_gen;
} proc = { .once = PTHREAD_ONCE_INIT };

static _Thread_local struct {
	unsigned gen;
	bool have;
	pid_t tid;
} thr;

static void after_fork_child(void)
{
	proc.pid = getpid();
	atomic_fetch_add(&proc.fork_gen, 1);
}

static void attach(void)
{
	const char *path = getenv("NRG_EVENTS");
	struct ring_header hdr;
	void *m;
	int fd;

	proc.pid = getpid();
	pthread_atfork(NULL, NULL, after_fork_child);
	if (!path || !*path || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return;
	if (pread(fd, &hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || hdr.magic != RING_MAGIC ||
	    hdr.version != 1 || hdr.slot_size != SLOT_SIZE || !hdr.capacity || hdr.capacity > (1u << 24) ||
	    (hdr.capacity & (hdr.capacity - 1))) {
		close(fd);
		return;
	}
	m = mmap(NULL, ring_bytes((uint32_t)hdr.capacity), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	proc.slots = (struct slot *)((char *)m + sizeof(struct ring_header));
	proc.h = m;
}

static pid_t my_tid(void)
{
	unsigned gen = atomic_load_explicit(&proc.fork_gen, memory_order_relaxed);

	if (!thr.have || thr.gen != gen) {
		thr.tid = (pid_t)syscall(SYS_gettid);
		thr.gen = gen;
		thr.have = true;
	}
	return thr.tid;
}

/* The ring events go to, or NULL. */
static void ring_of(struct ring_header **h, struct slot **slots)
{
	struct nrg_ring *l;

	pthread_once(&proc.once, attach);
	l = __atomic_load_n(&proc.local, __ATOMIC_ACQUIRE);
	if (l) {
		*h = l->h;
		*slots = l->slots;
	} else {
		*h = proc.h;
		*slots = proc.slots;
	}
}

int nrg__event_emit(const struct nrg_event *ev)
{
	struct ring_header *h;
	struct slot *slots, *s;
	uint64_t claim, waited_since = 0;
	unsigned spins = 0;

	ring_of(&h, &slots);
	if (!h)
		return -ENOTCONN;
	claim = atomic_load_explicit(&h->head, memory_order_relaxed);
	do {
		if (claim - atomic_load_explicit(&h->tail, memory_order_acquire) >= h->capacity) {
			/* Full: the reader is behind. Give it up to FULL_WAIT_US, then drop. */
			if (!waited_since)
				waited_since = nrg_now_us();
			else if (nrg_now_us() - waited_since > FULL_WAIT_US) {
				atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
				return -ENOBUFS;
			}
			if (spins++ < 64) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 50000 };

				nanosleep(&ts, NULL);
			}
			claim = atomic_load_explicit(&h->head, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(&h->head, &claim, claim + 1, memory_order_acq_rel,
							  memory_order_relaxed))
			break;
	} while (1);
	s = &slots[claim & (h->capacity - 1)];
	s->ev = *ev;
	atomic_store_explicit(&s->seq, claim + 1, memory_order_release);
	return 0;
}

static int emit(enum nrg_event_type type, const char *name, enum nrg_region_kind kind, int64_t epoch,
		int64_t step, double units, const char *unit)
{
	struct ring_header *h;
	struct slot *slots;
	struct nrg_event ev;

	ring_of(&h, &slots);
	if (!h)
		return -ENOTCONN; /* the cheap path when nobody watches */
	ev.t_us = nrg_now_us();
	ev.pid = proc.pid;
	ev.tid = my_tid();
	ev.type = type;
	ev.kind = kind;
	ev.epoch = epoch < 0 ? -1 : epoch;
	ev.step = step < 0 ? -1 : step;
	ev.units = units;
	memset(ev.unit, 0, sizeof ev.unit);
	memset(ev.name, 0, sizeof ev.name);
	if (unit)
		strncat(ev.unit, unit, sizeof ev.unit - 1);
	if (name)
		strncat(ev.name, name, sizeof ev.name - 1);
	return nrg__event_emit(&ev);
}

int nrg_region_begin(const char *name, enum nrg_region_kind kind, int64_t epoch, int64_t step)
{
	if (!name || !*name)
		return -EINVAL;
	return emit(NRG_EV_BEGIN, name, kind, epoch, step, 0, NULL);
}

int nrg_region_end(const char *name)
{
	if (!name || !*name)
		return -EINVAL;
	return emit(NRG_EV_END, name, NRG_REGION_OTHER, -1, -1, 0, NULL);
}

int nrg_add_units(double n, const char *unit)
{
	if (!(n >= 0))
		return -EINVAL;
	return emit(NRG_EV_UNITS, NULL, NRG_REGION_OTHER, -1, -1, n, unit);
}

int nrg_mark(const char *name)
{
	if (!name || !*name)
		return -EINVAL;
	return emit(NRG_EV_MARK, name, NRG_REGION_OTHER, -1, -1, 0, NULL);
}

bool nrg_watched(void)
{
	struct ring_header *h;
	struct slot *slots;

	ring_of(&h, &slots);
	return h != NULL;
}

void nrg__events_local(struct nrg_ring *r)
{
	pthread_once(&proc.once, attach);
	__atomic_store_n(&proc.local, r, __ATOMIC_RELEASE);
}

const char *nrg_region_kind_name(enum nrg_region_kind k)
{
	static const char *const n[] = { "other", "train", "eval", "infer" };
	return (unsigned)k < sizeof n / sizeof *n ? n[k] : "other";
}

int nrg_region_kind_parse(const char *s, enum nrg_region_kind *out)
{
	static const struct { const char *name; enum nrg_region_kind k; } names[] = {
		{ "other", NRG_REGION_OTHER }, { "train", NRG_REGION_TRAIN }, { "training", NRG_REGION_TRAIN },
		{ "eval", NRG_REGION_EVAL }, { "evaluation", NRG_REGION_EVAL }, { "validation", NRG_REGION_EVAL },
		{ "infer", NRG_REGION_INFER }, { "inference", NRG_REGION_INFER }, { "predict", NRG_REGION_INFER },
	};

	for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
		if (!strcasecmp(s, names[i].name)) {
			*out = names[i].k;
			return 0;
		}
	return -EINVAL;
}
