/* SPDX-License-Identifier: MIT */
/*
 * Support code for the glue lxds-idlc generates (docs/idl.md): the
 * marshalling buffer, calls that fit one fIPC message or spill into an
 * arena block, and shadow-object bookkeeping over capability references.
 *
 * One struct lxd_glue per side of one channel.  It is used from one OS
 * thread (the side's async runtime), like the endpoint it sits on: no
 * locks.  Generated code calls these functions; hand-written code only
 * sets a glue up (lxd_glue_init, lxd_glue_attach) and tears it down.
 *
 * Wire format of one call (op = the rpc number):
 *   inline  (request and reply each fit 7 words, sizes known statically):
 *           the words themselves.
 *   spilled (anything else): request w0 = arena buffer word of a block the
 *           caller allocated, w1 = words used; the callee writes the reply
 *           into the same block, reply w0 = words used.  A reply of at most
 *           6 words comes in the reply message instead: w0 =
 *           LXD_GLUE_REPLY_INLINE | words used, the words in w1..w6.
 * A word sequence holds, per value: scalars as one word; references
 * (lxd_ref_t) as one word; strings and arrays as a length word and the
 * bytes packed into words; arena buffers as one buffer word.
 *
 * Errors are negative errno values.
 */
#ifndef LXDS_GLUE_H
#define LXDS_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lxds/arena.h"
#include "lxds/async.h"
#include "lxds/cap.h"

/* Largest request or reply, in words (64 KiB). */
#define LXD_GLUE_MAX_WORDS 8192u
/* A spilled call's block holds at least this many words, for the reply. */
#define LXD_GLUE_MIN_BLOCK_WORDS 64u
/* Reply w0 flag of a spilled call: the reply is in the message (see above). */
#define LXD_GLUE_REPLY_INLINE (1ull << 63)
/* Words such a reply holds at most: the message's, less w0. */
#define LXD_GLUE_REPLY_INLINE_WORDS (LXD_MSG_WORDS - 1)

/* ---- the marshalling buffer ------------------------------------------------------------ */

/*
 * A sequence of words being written or read.  Errors are sticky: the first
 * one is kept in err and every later put/get does nothing (gets return 0),
 * so generated code checks once at the end.
 */
struct lxd_glue_buf {
	uint64_t *w;              /* the words: inl, an arena block or private memory */
	uint32_t n;               /* writer: words written; reader: words available */
	uint32_t cap;             /* words w can hold */
	uint32_t pos;             /* reader: next word */
	int err;                  /* first error, 0 if none */
	struct lxd_arena *arena;  /* writer grows into this arena (NULL: private memory) */
	bool owned;               /* w was allocated by the buffer (free it in fini) */
	uint64_t inl[LXD_MSG_WORDS];
};

/* A writer that starts in its inline words and grows into @arena (NULL: malloc). */
void lxd_glue_writer(struct lxd_glue_buf *b, struct lxd_arena *arena);

/* A reader over @n words at @w (private or shared: each word is read exactly once). */
void lxd_glue_reader(struct lxd_glue_buf *b, const uint64_t *w, uint32_t n);

/* Free what the buffer allocated. */
void lxd_glue_buf_fini(struct lxd_glue_buf *b);

/* Make room for @words words in all.  Returns 0 or -ENOMEM / -EMSGSIZE (also sets err). */
int lxd_glue_reserve(struct lxd_glue_buf *b, uint32_t words);

static inline void lxd_glue_put(struct lxd_glue_buf *b, uint64_t v)
{
	if (b->err)
		return;
	if (b->n == b->cap && lxd_glue_reserve(b, b->n + 1))
		return;
	b->w[b->n++] = v;
}

/*
 * Next word.  Each word is loaded exactly once (volatile), so a peer
 * rewriting shared memory meanwhile cannot make a checked value change.
 * Past the end: err = -EPROTO, returns 0.
 */
static inline uint64_t lxd_glue_get(struct lxd_glue_buf *b)
{
	if (b->err)
		return 0;
	if (b->pos >= b->n) {
		b->err = -EPROTO;
		return 0;
	}
	return ((volatile const uint64_t *)b->w)[b->pos++];
}

/* Append @len bytes as ceil(len / 8) words (no length word). */
void lxd_glue_put_bytes(struct lxd_glue_buf *b, const void *p, size_t len);

/* Read @len bytes written by lxd_glue_put_bytes() into @p. */
void lxd_glue_get_bytes(struct lxd_glue_buf *b, void *p, size_t len);

/*
 * A string of at most @max bytes before the NUL: a length word, then the
 * bytes.  NULL crosses as length ~0.  Writing one longer than @max sets
 * -ENAMETOOLONG.
 */
void lxd_glue_put_string(struct lxd_glue_buf *b, const char *s, size_t max);

/*
 * Read a string written by lxd_glue_put_string(): a fresh malloc'd,
 * NUL-terminated copy (the caller frees it), or NULL for a NULL string or
 * on error (err set: -EPROTO for a length above @max).
 */
char *lxd_glue_get_string(struct lxd_glue_buf *b, size_t max, bool *is_null);

/* An array of @count elements of @size bytes: a count word, then the bytes. */
void lxd_glue_put_array(struct lxd_glue_buf *b, const void *p, uint64_t count, size_t size);

/*
 * Read an array's count word, checking it against @max (the receiver's
 * bound, e.g. the count parameter it holds).  Returns the count, or 0 with
 * err = -EPROTO when above @max.
 */
uint64_t lxd_glue_get_count(struct lxd_glue_buf *b, uint64_t max);

/* ---- shadows and references --------------------------------------------------------------- */

struct lxd_glue;

struct lxd_glue_shadow;

/*
 * Frees a shadow's object and what its fields own, and releases its
 * trampoline slot; generated per projection.  NULL: free(obj).
 */
typedef void (*lxd_glue_free_fn)(struct lxd_glue *g, struct lxd_glue_shadow *s);

/* The shadow copy of an object that lives on the other side. */
struct lxd_glue_shadow {
	void *obj;             /* our copy: sizeof(struct) (+ private area) bytes */
	lxd_ref_t remote;      /* the owner's reference to the real object */
	unsigned type;         /* projection id */
	int slot;              /* trampoline slot (ops tables), -1 none */
	lxd_glue_free_fn free_obj;
};

/* A trampoline slot: which glue and which remote ops table trampoline #i calls. */
struct lxd_glue_slot {
	struct lxd_glue *g;
	lxd_ref_t remote;
	bool used;
};

/* Open-addressing map of 64-bit keys to pointers (keys never 0). */
struct lxd_glue_map {
	uint64_t *keys;
	void **vals;
	uint32_t cap, n, tomb;
};

struct lxd_glue_stats {
	uint64_t calls_inline, calls_spilled; /* calls made */
	uint64_t served;                      /* requests handled */
	uint64_t shadows_created, shadows_freed;
	uint64_t exported, revoked;
	uint64_t refused;                     /* requests refused: bad reference, bad data */
	uint64_t failed;                      /* calls that failed (for void stubs, the only trace) */
	int last_error;                       /* the last failure's -errno */
};

struct lxd_glue {
	struct lxd_ep *ep;           /* the async endpoint calls go through */
	struct lxd_arena *arena;     /* this side's share: spill blocks */
	struct lxd_cap_table *caps;  /* references to this side's own objects */
	uint32_t owner;              /* owner id for caps lookups */
	struct lxd_glue_map own;     /* our object -> our reference */
	struct lxd_glue_map by_ref;  /* (type, peer's reference) -> shadow */
	struct lxd_glue_map by_obj;  /* shadow object -> shadow */
	struct lxd_glue_stats st;
};

/*
 * Set up @g over endpoint @ep (may be set later, before the first call),
 * arena allocator @arena (this side's share; the whole mapping is what
 * peers' buffer words are checked against), and capability table @caps
 * with owner id @owner.  Returns 0, -EINVAL or -ENOMEM.
 */
int lxd_glue_init(struct lxd_glue *g, struct lxd_ep *ep, struct lxd_arena *arena,
		  struct lxd_cap_table *caps, uint32_t owner);

/* Free every shadow (through its free function) and the maps.  References stay in caps. */
void lxd_glue_fini(struct lxd_glue *g);

/*
 * Our reference for our object @obj of projection @type, entering it in
 * the capability table on first use.  Returns it, or LXD_REF_NULL for a
 * NULL @obj or a full table.
 */
lxd_ref_t lxd_glue_export(struct lxd_glue *g, void *obj, unsigned type);

/*
 * Our object @obj is being destroyed: revoke its reference (later lookups
 * fail with -ESTALE).  Returns 0, or -ENOENT if it was never exported.
 */
int lxd_glue_unexport(struct lxd_glue *g, void *obj, unsigned type);

/*
 * Check @ref, sent by the peer, as a reference to our object of @type.
 * Returns 0 with *@obj set (NULL for LXD_REF_NULL), or the capability
 * table's refusal (-EBADF, -ESTALE, -EPROTOTYPE, -EPERM).
 */
int lxd_glue_own_lookup(struct lxd_glue *g, lxd_ref_t ref, unsigned type, void **obj);

/* Our shadow of the peer's object @remote of @type, or NULL. */
struct lxd_glue_shadow *lxd_glue_shadow_find(struct lxd_glue *g, lxd_ref_t remote, unsigned type);

/* The shadow record of shadow object @obj of @type, or NULL (not a shadow). */
struct lxd_glue_shadow *lxd_glue_shadow_of(struct lxd_glue *g, const void *obj, unsigned type);

/*
 * Create our shadow of @remote: a zeroed object of @size bytes followed,
 * at lxd_glue_priv_offset(@size), by @priv bytes of private memory.
 * Returns the record, or NULL (-ENOMEM, or @priv too large).
 */
struct lxd_glue_shadow *lxd_glue_shadow_new(struct lxd_glue *g, lxd_ref_t remote, unsigned type,
					    size_t size, size_t priv, lxd_glue_free_fn free_obj);

/* Destroy shadow @s: its trampoline slot must already be released. */
void lxd_glue_shadow_destroy(struct lxd_glue *g, struct lxd_glue_shadow *s);

/* Where the private area starts after an object of @size bytes (netdev_priv()'s rule: 32-byte aligned). */
static inline size_t lxd_glue_priv_offset(size_t size) { return (size + 31) & ~(size_t)31; }

/* Largest private area a shadow may get (1 MiB). */
#define LXD_GLUE_MAX_PRIV (1u << 20)

/* Take a free slot of @slots[@n] for (@g, @remote).  Returns its index or -ENOSPC. */
int lxd_glue_slot_take(struct lxd_glue_slot *slots, unsigned n, struct lxd_glue *g, lxd_ref_t remote);

/* Map helpers (used by the shadow code; exposed for tests). */
int lxd_glue_map_put(struct lxd_glue_map *m, uint64_t key, void *val);
void *lxd_glue_map_get(const struct lxd_glue_map *m, uint64_t key);
void *lxd_glue_map_del(struct lxd_glue_map *m, uint64_t key);
void lxd_glue_map_fini(struct lxd_glue_map *m);

/*
 * Whose object a reference names, from the side reading or writing it.
 * A reference word carries it: LXD_GLUE_REF_YOURS set means "your own
 * object" (the sender held a shadow), clear means "mine" (the receiver
 * holds, or makes, a shadow).  Capability references never use that bit
 * (slot indexes stay below 2^24).
 */
enum lxd_glue_owner {
	LXD_GLUE_OWNER_ANY = 0,  /* either (nested fields: they cross both ways) */
	LXD_GLUE_OWNER_US = 1,   /* must be this side's own object */
	LXD_GLUE_OWNER_PEER = 2, /* must be the peer's object (this side has a shadow) */
};
#define LXD_GLUE_REF_YOURS (1ull << 31)

/*
 * Sender: the reference word for @obj of @type.  Our shadow of a peer's
 * object crosses as the peer's reference marked YOURS; our own object is
 * exported (on first use) and crosses unmarked.  @who states what the
 * IDL promises; a mismatch sets -EINVAL (a shadow where our own object
 * belongs) or -ENOENT (not a shadow where one belongs).  NULL crosses as
 * LXD_REF_NULL.
 */
void lxd_glue_put_ref(struct lxd_glue *g, struct lxd_glue_buf *b, const void *obj, unsigned type,
		      enum lxd_glue_owner who);

/*
 * Receiver: resolve the next reference word.  Marked YOURS: our own
 * object of @type, capability-checked.  Unmarked: the peer's object; with
 * @create find or make our shadow (@size + @priv bytes, freed by
 * @free_obj), without it the shadow must exist (-ENOENT).  A word whose
 * mark contradicts @who is refused (-EPROTO).  Returns the object (NULL
 * for LXD_REF_NULL or on error, b->err set) and the shadow record in *@sh
 * (NULL for our own objects).
 */
void *lxd_glue_get_ref(struct lxd_glue *g, struct lxd_glue_buf *b, unsigned type, enum lxd_glue_owner who,
		       bool create, size_t size, size_t priv, lxd_glue_free_fn free_obj,
		       struct lxd_glue_shadow **sh);

/*
 * An arena buffer as one word: NULL (or length 0) crosses as 0; anything
 * not wholly inside the arena sets -EFAULT.
 */
void lxd_glue_put_arena(struct lxd_glue *g, struct lxd_glue_buf *b, const void *p, uint64_t len);

/* Resolve a buffer word, checked to lie inside the arena.  Returns the pointer (NULL for 0) and *@len. */
void *lxd_glue_get_arena(struct lxd_glue *g, struct lxd_glue_buf *b, uint64_t *len);

/* Record a failed call in the stats; returns @err. */
int lxd_glue_failed(struct lxd_glue *g, int err);

/* ---- calls ----------------------------------------------------------------------------------- */

/*
 * Caller: send request @req (a writer from lxd_glue_writer(.., g->arena))
 * as rpc @op and wait for the reply; on success @rep is a reader over it.
 * @spilled says which wire format the rpc uses (fixed by the generator);
 * @reply_words is an upper bound of the reply (spilled only).  Returns 0,
 * the callee's -errno, or the transport's (-EIO: the peer is dead).
 * Finish with lxd_glue_call_done().
 */
int lxd_glue_call(struct lxd_glue *g, uint32_t op, struct lxd_glue_buf *req, bool spilled,
		  uint32_t reply_words, struct lxd_glue_buf *rep);

/* Release what lxd_glue_call() holds (the spill block). */
void lxd_glue_call_done(struct lxd_glue *g, struct lxd_glue_buf *req, struct lxd_glue_buf *rep);

/*
 * A call answered by a callback (the runtime's lxd_call_cb) instead of a
 * waiting thread.  @done(@arg, err, rep) runs in the poll that takes the
 * reply: err 0 and @rep a reader over the reply (valid during the callback
 * only), or err the callee's -errno, -EIO (the peer died) or -EPROTO (a
 * reply that does not fit its block), with @rep NULL.
 */
typedef void (*lxd_glue_done_fn)(void *arg, int err, struct lxd_glue_buf *rep);

/* What a callback call holds until its reply: the caller's memory, kept until @done runs (which may free it). */
struct lxd_glue_pending {
	struct lxd_glue *g;
	uint64_t *blk;      /* the spill block (NULL: an inline call), freed after @done */
	uint32_t cap;       /* its words */
	bool spilled;
	lxd_glue_done_fn done;
	void *arg;
};

/*
 * Send @req like lxd_glue_call(), the reply to go to @done (see above).
 * On 0 the spill block moved to @pc (finish @req with lxd_glue_buf_fini()
 * at once).  -EAGAIN: it cannot go now (ring full, too many in flight):
 * nothing was sent and @req is as it was, so the caller may wait with
 * lxd_glue_call() instead.  Other -errno as lxd_glue_call() fails.
 */
int lxd_glue_call_cb(struct lxd_glue *g, uint32_t op, struct lxd_glue_buf *req, bool spilled,
		     uint32_t reply_words, struct lxd_glue_pending *pc, lxd_glue_done_fn done, void *arg);

/*
 * Callee: a reader over the request in @in (a private copy of the
 * message).  For a spilled request the block is checked to lie in the
 * arena.  Returns 0, or -EPROTO / -ERANGE for a malformed request.
 */
int lxd_glue_recv(struct lxd_glue *g, const uint64_t in[LXD_MSG_WORDS], bool spilled,
		  struct lxd_glue_buf *rd);

/*
 * Callee: send reply @wr (a private writer) back: into @out when inline,
 * into the request's block when spilled (@rd is the request's reader).
 * Returns 0 or -EMSGSIZE (it does not fit).
 */
int lxd_glue_reply(struct lxd_glue *g, const struct lxd_glue_buf *rd, bool spilled,
		   struct lxd_glue_buf *wr, uint64_t out[LXD_MSG_WORDS]);

/* ---- what a generated file exports ---------------------------------------------------------- */

/* One side of one IDL file's glue. */
struct lxd_glue_iface {
	const char *name;            /* the IDL file's base name */
	const char *side;            /* "kernel" or "domain" */
	const lxd_rpc_fn *handlers;  /* indexed by rpc number; NULL: served by the other side */
	uint32_t nhandlers;
	struct lxd_glue **self;      /* where caller stubs find their glue (one per process), or NULL */
	struct lxd_glue **(*self_tls)(void); /* ... per thread: the calling thread's pointer, or NULL */
};

/*
 * Make @g the glue @iface's caller stubs use, and fill @cfg for
 * lxd_ep_init() with its handlers (ctx = @g).  Returns 0 or -EINVAL.
 */
int lxd_glue_attach(struct lxd_glue *g, const struct lxd_glue_iface *iface, struct lxd_ep_config *cfg);

/* Stats copy.  Returns 0 or -EINVAL. */
int lxd_glue_stats(const struct lxd_glue *g, struct lxd_glue_stats *st);

/* The failure value a stub returns for a C return type: -errno, cast. */
#define LXD_GLUE_FAIL(type, err) ((type)(long)(err))

#endif
