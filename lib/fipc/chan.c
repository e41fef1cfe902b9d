/* SPDX-License-Identifier: MIT */
/* Channel set-up: size, format, attach; shared memory through memfds. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "lxds/util.h"

static bool valid_slots(uint32_t slots)
{
	return slots >= LXD_CHAN_MIN_SLOTS && slots <= LXD_CHAN_MAX_SLOTS &&
	       (slots & (slots - 1)) == 0;
}

size_t lxd_chan_shm_size(uint32_t slots)
{
	if (!valid_slots(slots))
		return 0;
	return sizeof(struct lxd_chan_shared) + 2ull * slots * sizeof(struct lxd_msg);
}

int lxd_chan_format(void *mem, size_t len, uint32_t slots)
{
	size_t need = lxd_chan_shm_size(slots);
	if (!mem || ((uintptr_t)mem % LXD_CACHE_LINE) != 0 || need == 0 || len < need)
		return -EINVAL;
	struct lxd_chan_shared *s = mem;
	memset(s, 0, need); /* every slot FREE, nobody asleep */
	s->hdr.magic = LXD_CHAN_MAGIC;
	s->hdr.version = LXD_CHAN_VERSION;
	s->hdr.slots = slots;
	return 0;
}

int lxd_chan_attach(struct lxd_chan *ch, void *mem, size_t len, uint32_t slots,
		    enum lxd_chan_side side)
{
	size_t need = lxd_chan_shm_size(slots);
	if (!ch || !mem || ((uintptr_t)mem % LXD_CACHE_LINE) != 0 || need == 0 || len < need ||
	    (side != LXD_SIDE_KERNEL && side != LXD_SIDE_DOMAIN))
		return -EINVAL;
	struct lxd_chan_shared *s = mem;
	/* The peer may have scribbled on the header: sizes come from our own
	 * @slots, the header is only compared. */
	if (s->hdr.magic != LXD_CHAN_MAGIC || s->hdr.version != LXD_CHAN_VERSION ||
	    s->hdr.slots != slots)
		return -EPROTO;

	lxd_fipc_process_init();
	memset(ch, 0, sizeof(*ch));
	unsigned out = side == LXD_SIDE_KERNEL ? 0 : 1; /* direction we send on */
	unsigned in = out ^ 1;
	ch->side = side;
	ch->mask = slots - 1;
	ch->tx = &s->ring[(size_t)out * slots];
	ch->rx = &s->ring[(size_t)in * slots];
	ch->tx_bell = &s->bell[out];
	ch->rx_bell = &s->bell[in];
	ch->call_out = &s->call[out];
	ch->call_in = &s->call[out ^ 1];
	ch->spin_cycles = 0; /* lxd_chan_wait() picks its default */
	ch->shm = mem;
	ch->shm_len = len;
	return 0;
}

int lxd_chan_create_shm(struct lxd_chan *ch, uint32_t slots, int *fd)
{
	size_t len = lxd_chan_shm_size(slots);
	if (!ch || !fd || len == 0)
		return -EINVAL;
	int f;
	void *mem = lxd_shm_create("lxds-chan", len, &f);
	if (!mem)
		return -errno;
	int rc = lxd_chan_format(mem, len, slots);
	if (rc == 0)
		rc = lxd_chan_attach(ch, mem, len, slots, LXD_SIDE_KERNEL);
	if (rc != 0) {
		munmap(mem, len);
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

int lxd_chan_open_shm(struct lxd_chan *ch, int fd, uint32_t slots, enum lxd_chan_side side)
{
	size_t len = lxd_chan_shm_size(slots);
	if (!ch || fd < 0 || len == 0)
		return -EINVAL;
	void *mem = lxd_shm_map(fd, len);
	if (!mem)
		return -errno;
	int rc = lxd_chan_attach(ch, mem, len, slots, side);
	if (rc != 0)
		munmap(mem, len);
	return rc;
}

void lxd_chan_close_shm(struct lxd_chan *ch)
{
	if (ch && ch->shm) {
		munmap(ch->shm, ch->shm_len);
		ch->shm = NULL;
	}
}

void lxd_chan_mark_dead(struct lxd_chan *ch)
{
	atomic_store_explicit(&ch->dead, 1, memory_order_relaxed);
	lxd_chan_kick_self(ch);
}

unsigned lxd_chan_recv_batch(struct lxd_chan *ch, struct lxd_msg **out, unsigned max)
{
	unsigned n = 0;
	while (n < max) {
		struct lxd_msg *m = lxd_chan_try_recv(ch);
		if (!m)
			break;
		out[n++] = m;
	}
	return n;
}
