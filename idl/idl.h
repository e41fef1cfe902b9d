/* SPDX-License-Identifier: MIT */
/*
 * lxds-idlc: the IDL compiler.  The whole pipeline in one header, in
 * sections named after the file that implements them:
 *
 *   lex.c -> parse.c -> check.c -> gen_*.c
 *
 * Every token keeps its location, every AST node keeps the token it came
 * from, and every diagnostic goes through idl_diag() (diag.c), which prints
 * "file:line:col: error: message", the source line and a caret under the
 * offending text.  Nothing here exits or aborts: errors are counted in the
 * context and the driver (main.c) decides; so the parser can be fuzzed and
 * linked into tests.  All memory comes from the context's arena and is
 * freed at once by idl_ctx_free().
 *
 * The language is documented in docs/idl.md.
 */
#ifndef LXDS_IDL_H
#define LXDS_IDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- context and diagnostics (diag.c) ------------------------------------ */

struct idl_chunk;

struct idl_ctx {
	const char *file;  /* name shown in diagnostics */
	const char *src;   /* the whole input (not NUL-terminated: see len) */
	size_t len;
	FILE *err;         /* where diagnostics go (NULL: nowhere, e.g. the fuzzer) */
	unsigned errors;   /* errors reported so far */
	unsigned max_errors; /* stop reporting (and parsing) after this many */
	struct idl_chunk *chunks; /* arena */
};

/* Set up @cx over @src[0..len).  @err may be NULL. */
void idl_ctx_init(struct idl_ctx *cx, const char *file, const char *src, size_t len, FILE *err);

/* Free everything allocated from @cx. */
void idl_ctx_free(struct idl_ctx *cx);

/* Zeroed memory from @cx's arena; lives until idl_ctx_free().  Never NULL (aborts only on OOM). */
void *idl_alloc(struct idl_ctx *cx, size_t size);

/* A NUL-terminated copy of @s[0..n) in the arena. */
char *idl_strndup(struct idl_ctx *cx, const char *s, size_t n);

/* printf into the arena. */
char *idl_fmt(struct idl_ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when the error limit is reached: the parser stops there. */
bool idl_too_many_errors(const struct idl_ctx *cx);

/* ---- tokens (lex.c) ---------------------------------------------------------- */

enum idl_tok_kind {
	TK_IDENT,
	TK_NUM,
	TK_STR,   /* "..." ; text includes the quotes */
	TK_PUNCT, /* one of { } ( ) [ ] < > ; , * */
	TK_EOF,
};

struct idl_tok {
	enum idl_tok_kind kind;
	const char *text; /* points into cx->src */
	unsigned len;
	unsigned line, col; /* 1-based */
	uint64_t num;       /* TK_NUM */
	bool bad;           /* malformed (already reported): no follow-up errors about it */
	struct idl_tok *next;
};

enum idl_diag_kind { IDL_ERROR, IDL_NOTE };

/*
 * The one diagnostic function: "file:line:col: error: ..." (or "note:"),
 * then the source line and a caret under the token's text.  @tok may be
 * NULL (no location).  Errors increment cx->errors; past cx->max_errors
 * nothing more is printed.
 */
void idl_diag(struct idl_ctx *cx, enum idl_diag_kind kind, const struct idl_tok *tok,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define idl_error(cx, tok, ...) idl_diag((cx), IDL_ERROR, (tok), __VA_ARGS__)
#define idl_note(cx, tok, ...) idl_diag((cx), IDL_NOTE, (tok), __VA_ARGS__)

/*
 * Split cx->src into tokens.  Returns the list, always ending in TK_EOF
 * (bad characters, unterminated comments or strings are reported and
 * skipped).
 */
struct idl_tok *idl_lex(struct idl_ctx *cx);

/* True if @t is the identifier or punctuator spelled @s. */
bool idl_tok_is(const struct idl_tok *t, const char *s);

/* ---- AST (parse.c builds it, check.c resolves and checks it) ---------------- */

enum idl_side { IDL_SIDE_NONE = 0, IDL_KERNEL = 1, IDL_DOMAIN = 2 };
/* The two ends of one call. */
enum idl_party { IDL_PARTY_NONE = 0, IDL_CALLER = 1, IDL_CALLEE = 2 };

#define IDL_DIR_IN 1u
#define IDL_DIR_OUT 2u

enum idl_lifetime {
	IDL_LT_NONE = 0,
	IDL_LT_ALLOC,   /* create the shadow copy (or reuse the one already there) */
	IDL_LT_DEALLOC, /* destroy the shadow copy (and revoke the reference) after the call */
	IDL_LT_BIND,    /* look up the shadow copy that must already exist */
};

struct idl_attrs {
	unsigned dir;                  /* IDL_DIR_*, 0 when not given */
	enum idl_lifetime lifetime;
	enum idl_party lt_party;       /* whose shadow alloc/dealloc/bind acts on */
	const struct idl_tok *count;   /* count(NAME): array length */
	const struct idl_tok *arena;   /* arena(NAME): arena buffer length in bytes */
	const struct idl_tok *priv;    /* private(NAME): driver-private area size */
	uint64_t string_max;           /* string(N): at most N bytes before the NUL; 0 = not a string */
	uint64_t instances;            /* instances(N) on a projection: trampoline slots */
	const struct idl_tok *tok;     /* '[' of the first list, for messages */
	const struct idl_tok *dir_tok, *lt_tok, *string_tok, *instances_tok;
	const struct idl_tok *callback_tok; /* [callback] before an rpc's return type (check.c moves it) */
};

enum idl_type_kind {
	IDL_TY_VOID,      /* return type only */
	IDL_TY_SCALAR,    /* integers, bool, enums, typedefs of those: one word */
	IDL_TY_PROJ,      /* pointer to a projected structure */
	IDL_TY_STRING,    /* char pointer with [string(N)] */
	IDL_TY_ARRAY,     /* pointer to scalars with [count(n)] */
	IDL_TY_ARENA,     /* pointer into the shared arena with [arena(len)] */
	IDL_TY_FIXED,     /* field only: T name[N] */
	IDL_TY_RPC_PTR,   /* field only: function pointer */
};

struct idl_proj;
struct idl_rpc;

struct idl_type {
	enum idl_type_kind kind;
	const char *cname;       /* C spelling of the scalar / element / pointee, e.g. "unsigned int" */
	bool is_const;           /* 'const' before the type */
	unsigned ptr;            /* number of '*' (0 or 1) */
	const struct idl_tok *tok;
	const struct idl_tok *proj_tok; /* name after 'projection' */
	struct idl_proj *proj;   /* resolved by check.c */
	uint64_t fixed_len;      /* IDL_TY_FIXED */
	struct idl_rpc *fn;      /* IDL_TY_RPC_PTR: its signature */
};

/* A parameter or a projection field. */
struct idl_var {
	const struct idl_tok *name;
	const char *cname;       /* name as a C string */
	struct idl_type type;
	struct idl_attrs attrs;
	struct idl_var *next;
	/* check.c */
	struct idl_var *count_var, *arena_var, *priv_var; /* resolved names */
	bool is_length;          /* some other var's count/arena names this one */
	unsigned index;          /* position in its list */
};

struct idl_rpc {
	const struct idl_tok *name;
	const char *cname;
	struct idl_type ret;
	struct idl_attrs ret_attrs;
	struct idl_var *ret_priv;   /* the parameter private(...) names (check.c) */
	struct idl_var *params;
	unsigned nparams;
	bool is_ptr;             /* rpc_ptr inside a projection */
	bool callback;           /* [callback]: the caller side also gets NAME_cb() and NAME_reply() */
	struct idl_proj *owner;  /* rpc_ptr: the projection (ops table) it sits in */
	struct idl_module *mod;
	uint32_t op;             /* rpc number (check.c) */
	struct idl_rpc *next;
};

struct idl_proj {
	const struct idl_tok *name;
	const char *cname;
	const struct idl_tok *tag;  /* struct tag of the real type */
	const char *ctag;
	struct idl_attrs attrs;
	struct idl_var *fields;     /* scalars, nested projections, strings, arrays, rpc_ptrs */
	struct idl_module *mod;
	unsigned id;                /* capability type id (check.c), unique in the file */
	bool has_rpc_ptrs;
	struct idl_proj *next;
	int visit;                  /* check.c: cycle detection */
};

struct idl_include {
	const struct idl_tok *tok;
	const char *path;        /* without quotes */
	struct idl_include *next;
};

struct idl_module {
	const struct idl_tok *name;
	const char *cname;
	enum idl_side exporter;  /* side that implements the module's rpcs */
	const struct idl_tok *exporter_tok;
	struct idl_include *includes;
	struct idl_proj *projs;
	struct idl_rpc *rpcs;
	unsigned nrpcs;
	struct idl_module *next;
};

struct idl_file {
	struct idl_module *modules;
};

/* ---- parse.c ------------------------------------------------------------------- */

/*
 * Parse the token list.  Returns the file (possibly partial: errors are
 * reported and the parser recovers at ';' or '}').  Check cx->errors.
 */
struct idl_file *idl_parse(struct idl_ctx *cx, struct idl_tok *toks);

/* ---- check.c ------------------------------------------------------------------- */

/*
 * Resolve names and check types, annotations and limits.  Returns the
 * number of errors found (also added to cx->errors).
 */
unsigned idl_check(struct idl_ctx *cx, struct idl_file *f);

/* Text of the other side, for messages ("kernel"/"domain"). */
const char *idl_side_name(enum idl_side s);
const char *idl_party_name(enum idl_party p);

/* ---- dump.c: canonical text of the checked AST (golden tests) ----------------- */

void idl_dump(FILE *out, const struct idl_file *f);

/* ---- gen_*.c ---------------------------------------------------------------------- */

/* Emit the glue of @side for every module in @f.  Returns 0 or -errno (write error). */
int idl_gen(FILE *out, const struct idl_file *f, enum idl_side side, const char *idl_name);

/* ---- all of it, for the fuzzer and the driver ------------------------------------ */

/* Lex, parse and check @cx->src.  Returns the file, or NULL when there were errors. */
struct idl_file *idl_compile(struct idl_ctx *cx);

#endif
