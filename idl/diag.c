/* SPDX-License-Identifier: MIT */
/* The compiler's context: its arena and its one diagnostic function. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "idl.h"

struct idl_chunk {
	struct idl_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char mem[];
};

#define IDL_CHUNK_SIZE (64u * 1024u)
#define IDL_DEFAULT_MAX_ERRORS 20u
/* Source lines longer than this are cut in diagnostics. */
#define IDL_MAX_SHOWN_LINE 160u

void idl_ctx_init(struct idl_ctx *cx, const char *file, const char *src, size_t len, FILE *err)
{
	memset(cx, 0, sizeof(*cx));
	cx->file = file;
	cx->src = src;
	cx->len = len;
	cx->err = err;
	cx->max_errors = IDL_DEFAULT_MAX_ERRORS;
}

void idl_ctx_free(struct idl_ctx *cx)
{
	struct idl_chunk *c = cx->chunks;
	while (c) {
		struct idl_chunk *n = c->next;
		free(c);
		c = n;
	}
	cx->chunks = NULL;
}

void *idl_alloc(struct idl_ctx *cx, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	struct idl_chunk *c = cx->chunks;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > IDL_CHUNK_SIZE ? size : IDL_CHUNK_SIZE;
		c = malloc(sizeof(*c) + cap);
		if (!c) {
			/* The one place we give up: nothing sensible is left to do. */
			fputs("lxds-idlc: out of memory\n", stderr);
			abort();
		}
		c->used = 0;
		c->cap = cap;
		c->next = cx->chunks;
		cx->chunks = c;
	}
	void *p = c->mem + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *idl_strndup(struct idl_ctx *cx, const char *s, size_t n)
{
	char *p = idl_alloc(cx, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/* GCC with -fsanitize=undefined warns "null format string" here: its
 * instrumentation adds a fmt == NULL path that no caller takes. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
char *idl_fmt(struct idl_ctx *cx, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *p = idl_alloc(cx, (size_t)n + 1);
	if ((size_t)n < sizeof(small)) {
		memcpy(p, small, (size_t)n + 1);
		return p;
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

bool idl_too_many_errors(const struct idl_ctx *cx)
{
	return cx->errors >= cx->max_errors;
}

/* Print the source line holding @tok and a caret line under its text. */
static void show_line(struct idl_ctx *cx, const struct idl_tok *tok)
{
	const char *src = cx->src, *end = cx->src + cx->len;
	const char *start = tok->text;
	while (start > src && start[-1] != '\n')
		start--;
	const char *stop = tok->text;
	while (stop < end && *stop != '\n')
		stop++;
	size_t n = (size_t)(stop - start);
	if (n > IDL_MAX_SHOWN_LINE)
		n = IDL_MAX_SHOWN_LINE;
	size_t at = (size_t)(tok->text - start);
	size_t width = tok->len ? tok->len : 1;

	fputs("    ", cx->err);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)start[i];
		/* Control bytes and NULs from a hostile file must not reach the terminal raw. */
		fputc(c == '\t' || (c >= 0x20 && c < 0x7f) || c >= 0x80 ? c : '?', cx->err);
	}
	fputc('\n', cx->err);
	if (at > n)
		return; /* the token lies beyond the part shown */
	fputs("    ", cx->err);
	for (size_t i = 0; i < at; i++)
		fputc(start[i] == '\t' ? '\t' : ' ', cx->err);
	fputc('^', cx->err);
	for (size_t i = 1; i < width && at + i < n; i++)
		fputc('~', cx->err);
	fputc('\n', cx->err);
}

void idl_diag(struct idl_ctx *cx, enum idl_diag_kind kind, const struct idl_tok *tok,
	      const char *fmt, ...)
{
	if (kind == IDL_ERROR)
		cx->errors++;
	if (!cx->err || cx->errors > cx->max_errors)
		return;
	if (tok)
		fprintf(cx->err, "%s:%u:%u: ", cx->file, tok->line, tok->col);
	else
		fprintf(cx->err, "%s: ", cx->file);
	fputs(kind == IDL_ERROR ? "error: " : "note: ", cx->err);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(cx->err, fmt, ap);
	va_end(ap);
	fputc('\n', cx->err);
	if (tok && tok->kind != TK_EOF)
		show_line(cx, tok);
	if (kind == IDL_ERROR && cx->errors == cx->max_errors)
		fprintf(cx->err, "%s: too many errors, stopping\n", cx->file);
}

const char *idl_side_name(enum idl_side s)
{
	return s == IDL_KERNEL ? "kernel" : s == IDL_DOMAIN ? "domain" : "?";
}

const char *idl_party_name(enum idl_party p)
{
	return p == IDL_CALLER ? "caller" : p == IDL_CALLEE ? "callee" : "?";
}
