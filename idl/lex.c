/* SPDX-License-Identifier: MIT */
/*
 * The lexer: identifiers, integers (decimal, 0x hex), "strings" (for include
 * paths; no escapes but \" and \\), one-character punctuators, // and / * * /
 * comments.  Every token keeps line and column; bad input is reported and
 * skipped so the parser still sees the rest.
 */
#include <string.h>

#include "idl.h"

/* Longest identifier or number accepted: longer ones are errors, not UB. */
#define IDL_MAX_TOKEN 255u

struct lexer {
	struct idl_ctx *cx;
	size_t pos;
	unsigned line, col;
	struct idl_tok head, *tail;
};

static bool is_ident_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_ident(int c) { return is_ident_start(c) || is_digit(c); }

static int peek(struct lexer *lx, size_t ahead)
{
	size_t p = lx->pos + ahead;
	return p < lx->cx->len ? (unsigned char)lx->cx->src[p] : -1;
}

static void advance(struct lexer *lx, size_t n)
{
	while (n-- && lx->pos < lx->cx->len) {
		if (lx->cx->src[lx->pos] == '\n') {
			lx->line++;
			lx->col = 1;
		} else {
			lx->col++;
		}
		lx->pos++;
	}
}

static struct idl_tok *add(struct lexer *lx, enum idl_tok_kind kind, size_t start, unsigned line,
			   unsigned col)
{
	struct idl_tok *t = idl_alloc(lx->cx, sizeof(*t));
	t->kind = kind;
	t->text = lx->cx->src + start;
	t->len = (unsigned)(lx->pos - start);
	t->line = line;
	t->col = col;
	lx->tail->next = t;
	lx->tail = t;
	return t;
}

/* A one-off token for a diagnostic at the current position. */
static struct idl_tok here(struct lexer *lx, unsigned len)
{
	struct idl_tok t = { .kind = TK_PUNCT, .text = lx->cx->src + lx->pos, .len = len,
			     .line = lx->line, .col = lx->col };
	return t;
}

static void number(struct lexer *lx, unsigned line, unsigned col)
{
	size_t start = lx->pos;
	unsigned base = 10;
	if (peek(lx, 0) == '0' && (peek(lx, 1) == 'x' || peek(lx, 1) == 'X')) {
		base = 16;
		advance(lx, 2);
	}
	uint64_t v = 0;
	bool overflow = false, digits = false;
	for (;;) {
		int c = peek(lx, 0);
		unsigned d;
		if (is_digit(c))
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			overflow = true;
		v = v * base + d;
		digits = true;
		advance(lx, 1);
	}
	bool junk = false;
	while (is_ident(peek(lx, 0))) { /* 12abc: one bad token, not two */
		junk = true;
		advance(lx, 1);
	}
	struct idl_tok *t = add(lx, TK_NUM, start, line, col);
	t->num = v;
	if (junk || !digits)
		idl_error(lx->cx, t, "malformed number '%.*s'", (int)t->len, t->text);
	else if (overflow)
		idl_error(lx->cx, t, "number '%.*s' does not fit in 64 bits", (int)t->len, t->text);
	if (junk || !digits || overflow) {
		t->num = 0;
		t->bad = true;
	}
}

static void string(struct lexer *lx, unsigned line, unsigned col)
{
	size_t start = lx->pos;
	advance(lx, 1);
	for (;;) {
		int c = peek(lx, 0);
		if (c == -1 || c == '\n') {
			struct idl_tok t = { .kind = TK_STR, .text = lx->cx->src + start,
					     .len = (unsigned)(lx->pos - start), .line = line, .col = col };
			idl_error(lx->cx, &t, "missing terminating '\"'");
			add(lx, TK_STR, start, line, col);
			return;
		}
		if (c == '\\' && (peek(lx, 1) == '"' || peek(lx, 1) == '\\')) {
			advance(lx, 2);
			continue;
		}
		advance(lx, 1);
		if (c == '"')
			break;
	}
	add(lx, TK_STR, start, line, col);
}

struct idl_tok *idl_lex(struct idl_ctx *cx)
{
	struct lexer lx = { .cx = cx, .line = 1, .col = 1 };
	lx.tail = &lx.head;
	while (lx.pos < cx->len && !idl_too_many_errors(cx)) {
		int c = peek(&lx, 0);
		unsigned line = lx.line, col = lx.col;
		size_t start = lx.pos;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			advance(&lx, 1);
		} else if (c == '/' && peek(&lx, 1) == '/') {
			while (lx.pos < cx->len && peek(&lx, 0) != '\n')
				advance(&lx, 1);
		} else if (c == '/' && peek(&lx, 1) == '*') {
			struct idl_tok open = here(&lx, 2);
			advance(&lx, 2);
			while (lx.pos < cx->len && !(peek(&lx, 0) == '*' && peek(&lx, 1) == '/'))
				advance(&lx, 1);
			if (lx.pos >= cx->len)
				idl_error(cx, &open, "unterminated comment");
			else
				advance(&lx, 2);
		} else if (is_ident_start(c)) {
			while (is_ident(peek(&lx, 0)))
				advance(&lx, 1);
			struct idl_tok *t = add(&lx, TK_IDENT, start, line, col);
			if (t->len > IDL_MAX_TOKEN)
				idl_error(cx, t, "identifier longer than %u characters", IDL_MAX_TOKEN);
		} else if (is_digit(c)) {
			number(&lx, line, col);
		} else if (c == '"') {
			string(&lx, line, col);
		} else if (c >= 0 && strchr("{}()[]<>;,*", c) && c != 0) {
			advance(&lx, 1);
			add(&lx, TK_PUNCT, start, line, col);
		} else {
			struct idl_tok t = here(&lx, 1);
			if (c >= 0x20 && c < 0x7f)
				idl_error(cx, &t, "unexpected character '%c'", c);
			else
				idl_error(cx, &t, "unexpected byte 0x%02x", (unsigned)c);
			advance(&lx, 1);
		}
	}
	struct idl_tok *eof = idl_alloc(cx, sizeof(*eof));
	eof->kind = TK_EOF;
	eof->text = cx->src + cx->len;
	eof->line = lx.line;
	eof->col = lx.col;
	lx.tail->next = eof;
	return lx.head.next;
}

bool idl_tok_is(const struct idl_tok *t, const char *s)
{
	size_t n = strlen(s);
	return (t->kind == TK_IDENT || t->kind == TK_PUNCT) && t->len == n && memcmp(t->text, s, n) == 0;
}
