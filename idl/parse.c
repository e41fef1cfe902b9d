/* SPDX-License-Identifier: MIT */
/*
 * The parser: recursive descent over the token list, building the AST of
 * idl.h.  On a syntax error it reports once, then skips to the end of the
 * statement (';' at the same brace depth, or the '}' closing the block) and
 * goes on, so one run reports several errors.  The grammar (docs/idl.md):
 *
 *   file       := module*
 *   module     := 'module' NAME attrs? '{' item* '}' ';'?
 *   item       := 'include' STRING ';'
 *               | 'projection' '<' 'struct' TAG '>' NAME attrs? '{' field* '}' ';'
 *               | 'rpc' attrs? type NAME '(' params ')' ';'
 *   field      := 'rpc_ptr' attrs? type NAME '(' params ')' ';'
 *               | attrs? type NAME ('[' NUMBER ']')? ';'
 *   params     := 'void' | param (',' param)* | (nothing)
 *   param      := attrs? type NAME
 *   type       := 'const'? ( 'projection' NAME attrs? '*' | scalar '*'? | 'void' '*'? )
 *   attrs      := '[' attr (',' attr)* ']'
 *
 * An rpc's attrs before its return type belong to the return value, and
 * may also hold 'callback', which is the rpc's (check.c takes it out).
 */
#include <string.h>

#include "idl.h"

struct parser {
	struct idl_ctx *cx;
	struct idl_tok *tok;
	struct idl_tok *prev; /* the token before tok, for "missing ';'" locations */
};

static bool at(struct parser *p, const char *s) { return idl_tok_is(p->tok, s); }
static bool at_eof(struct parser *p) { return p->tok->kind == TK_EOF; }

static struct idl_tok *next(struct parser *p)
{
	struct idl_tok *t = p->tok;
	if (t->kind != TK_EOF) {
		p->prev = t;
		p->tok = t->next;
	}
	return t;
}

static bool accept(struct parser *p, const char *s)
{
	if (!at(p, s))
		return false;
	next(p);
	return true;
}

/* Describe the current token for "expected X, found Y". */
static const char *found(struct parser *p)
{
	struct idl_tok *t = p->tok;
	if (t->kind == TK_EOF)
		return "end of file";
	return idl_fmt(p->cx, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->text);
}

static bool expect(struct parser *p, const char *s, const char *what)
{
	if (accept(p, s))
		return true;
	const struct idl_tok *where = p->tok;
	if (p->prev && (p->tok->kind == TK_EOF || p->tok->line > p->prev->line)) {
		/* Something is missing at the end of a line: point there, not at
		 * the next line, like a C compiler does for a missing ';'. */
		struct idl_tok *t = idl_alloc(p->cx, sizeof(*t));
		*t = *p->prev;
		t->kind = TK_PUNCT;
		t->text = p->prev->text + p->prev->len;
		t->col = p->prev->col + p->prev->len;
		t->len = 0;
		where = t;
	}
	idl_error(p->cx, where, "expected '%s'%s%s, found %s", s, what ? " " : "", what ? what : "",
		  found(p));
	return false;
}

static struct idl_tok *expect_ident(struct parser *p, const char *what)
{
	if (p->tok->kind == TK_IDENT)
		return next(p);
	idl_error(p->cx, p->tok, "expected %s, found %s", what, found(p));
	return NULL;
}

/*
 * Error recovery: skip to just after the ';' that ends this statement, or
 * to the '}' that closes the enclosing block (not consumed), skipping
 * whole nested blocks on the way.
 */
static void sync(struct parser *p)
{
	int depth = 0;
	while (!at_eof(p)) {
		if (at(p, "{")) {
			depth++;
		} else if (at(p, "}")) {
			if (depth == 0)
				return;
			depth--;
			if (depth == 0) {
				next(p);
				accept(p, ";");
				return;
			}
		} else if (at(p, ";") && depth == 0) {
			next(p);
			return;
		}
		next(p);
	}
}

static char *tok_str(struct parser *p, const struct idl_tok *t)
{
	return idl_strndup(p->cx, t->text, t->len);
}

/* ---- annotations ------------------------------------------------------------------ */

static bool dup_attr(struct parser *p, const struct idl_tok *t, bool dup)
{
	if (dup)
		idl_error(p->cx, t, "annotation '%.*s' given twice", (int)t->len, t->text);
	return !dup;
}

/* NAME '(' IDENT ')' : the identifier. */
static struct idl_tok *attr_ident_arg(struct parser *p, const struct idl_tok *name)
{
	if (!expect(p, "(", idl_fmt(p->cx, "after '%.*s'", (int)name->len, name->text)))
		return NULL;
	struct idl_tok *id = expect_ident(p, "a name");
	if (!id || !expect(p, ")", NULL))
		return NULL;
	return id;
}

static bool attr_num_arg(struct parser *p, const struct idl_tok *name, uint64_t *out)
{
	if (!expect(p, "(", idl_fmt(p->cx, "after '%.*s'", (int)name->len, name->text)))
		return false;
	if (p->tok->kind != TK_NUM) {
		idl_error(p->cx, p->tok, "expected a number, found %s", found(p));
		return false;
	}
	struct idl_tok *n = next(p);
	if (n->bad)
		return false;
	if (n->num == 0) {
		idl_error(p->cx, n, "'%.*s' needs a number greater than 0", (int)name->len, name->text);
		return false;
	}
	*out = n->num;
	return expect(p, ")", NULL);
}

static bool one_attr(struct parser *p, struct idl_attrs *a)
{
	struct idl_tok *t = expect_ident(p, "an annotation");
	if (!t)
		return false;
	if (idl_tok_is(t, "in") || idl_tok_is(t, "out")) {
		unsigned d = idl_tok_is(t, "in") ? IDL_DIR_IN : IDL_DIR_OUT;
		if (!dup_attr(p, t, a->dir & d))
			return true;
		a->dir |= d;
		if (!a->dir_tok)
			a->dir_tok = t;
		return true;
	}
	if (idl_tok_is(t, "alloc") || idl_tok_is(t, "dealloc") || idl_tok_is(t, "bind")) {
		enum idl_lifetime lt = idl_tok_is(t, "alloc")	  ? IDL_LT_ALLOC
				       : idl_tok_is(t, "dealloc") ? IDL_LT_DEALLOC
								  : IDL_LT_BIND;
		struct idl_tok *who = attr_ident_arg(p, t);
		if (!who)
			return false;
		enum idl_party party = idl_tok_is(who, "caller")   ? IDL_CALLER
				       : idl_tok_is(who, "callee") ? IDL_CALLEE
								   : IDL_PARTY_NONE;
		if (!party) {
			idl_error(p->cx, who, "'%.*s' takes 'caller' or 'callee', not '%.*s'", (int)t->len,
				  t->text, (int)who->len, who->text);
			return true;
		}
		if (a->lifetime) {
			idl_error(p->cx, t, "only one of alloc, dealloc, bind may be given");
			idl_note(p->cx, a->lt_tok, "the other one is here");
			return true;
		}
		a->lifetime = lt;
		a->lt_party = party;
		a->lt_tok = t;
		return true;
	}
	if (idl_tok_is(t, "count") || idl_tok_is(t, "arena") || idl_tok_is(t, "private")) {
		const struct idl_tok **slot = idl_tok_is(t, "count")   ? &a->count
					      : idl_tok_is(t, "arena") ? &a->arena
								       : &a->priv;
		struct idl_tok *id = attr_ident_arg(p, t);
		if (!id)
			return false;
		if (dup_attr(p, t, *slot != NULL))
			*slot = id;
		return true;
	}
	if (idl_tok_is(t, "callback")) {
		if (dup_attr(p, t, a->callback_tok != NULL))
			a->callback_tok = t;
		return true;
	}
	if (idl_tok_is(t, "string") || idl_tok_is(t, "instances")) {
		bool str = idl_tok_is(t, "string");
		uint64_t n;
		if (!attr_num_arg(p, t, &n))
			return false;
		if (dup_attr(p, t, str ? a->string_max != 0 : a->instances != 0)) {
			if (str) {
				a->string_max = n;
				a->string_tok = t;
			} else {
				a->instances = n;
				a->instances_tok = t;
			}
		}
		return true;
	}
	idl_error(p->cx, t, "unknown annotation '%.*s'", (int)t->len, t->text);
	/* Skip a parenthesised argument so the rest of the list still parses. */
	if (accept(p, "(")) {
		while (!at_eof(p) && !at(p, ")") && !at(p, "]") && !at(p, ";"))
			next(p);
		accept(p, ")");
	}
	return true;
}

/* attrs := '[' attr (',' attr)* ']' ; merged into @a (which may already hold some). */
static bool attr_list(struct parser *p, struct idl_attrs *a)
{
	struct idl_tok *open = next(p); /* '[' */
	if (!a->tok)
		a->tok = open;
	if (at(p, "]")) {
		idl_error(p->cx, p->tok, "empty annotation list");
		next(p);
		return true;
	}
	do {
		if (!one_attr(p, a))
			return false;
	} while (accept(p, ","));
	return expect(p, "]", "to close the annotation list");
}

static bool maybe_attrs(struct parser *p, struct idl_attrs *a)
{
	while (at(p, "["))
		if (!attr_list(p, a))
			return false;
	return true;
}

/* ---- types ------------------------------------------------------------------------ */

static const char *const c_words[] = { "unsigned", "signed", "char", "short", "int", "long" };

static bool is_c_word(const struct idl_tok *t)
{
	for (size_t i = 0; i < sizeof(c_words) / sizeof(c_words[0]); i++)
		if (idl_tok_is(t, c_words[i]))
			return true;
	return false;
}

static bool is_keyword(const struct idl_tok *t)
{
	static const char *const kw[] = { "module", "include", "projection", "rpc", "rpc_ptr",
					  "const", "struct", "void" };
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (idl_tok_is(t, kw[i]))
			return true;
	return false;
}

/* type := 'const'? ( 'projection' NAME attrs? '*' | scalar '*'? | 'void' '*'? ) */
static bool parse_type(struct parser *p, struct idl_type *ty, struct idl_attrs *a)
{
	ty->tok = p->tok;
	if (accept(p, "const"))
		ty->is_const = true;
	if (at(p, "projection")) {
		next(p);
		struct idl_tok *name = expect_ident(p, "the name of a projection");
		if (!name)
			return false;
		ty->kind = IDL_TY_PROJ;
		ty->proj_tok = name;
		if (!maybe_attrs(p, a))
			return false;
		if (!expect(p, "*", "(a projection is always passed by pointer)"))
			return false;
		ty->ptr = 1;
		return true;
	}
	if (at(p, "struct") || at(p, "union")) {
		struct idl_tok *s = next(p);
		idl_error(p->cx, s,
			  "a structure crosses only as 'projection NAME *': declare a projection for it");
		return false;
	}
	if (at(p, "void")) {
		next(p);
		ty->kind = IDL_TY_VOID;
		ty->cname = "void";
	} else if (at(p, "enum")) {
		next(p);
		struct idl_tok *tag = expect_ident(p, "an enum tag");
		if (!tag)
			return false;
		ty->kind = IDL_TY_SCALAR;
		ty->cname = idl_fmt(p->cx, "enum %.*s", (int)tag->len, tag->text);
	} else if (p->tok->kind == TK_IDENT && is_c_word(p->tok)) {
		char buf[64] = "";
		unsigned words = 0;
		while (p->tok->kind == TK_IDENT && is_c_word(p->tok)) {
			struct idl_tok *w = next(p);
			if (++words > 4) {
				idl_error(p->cx, w, "too many words in a type name");
				return false;
			}
			if (buf[0])
				strcat(buf, " ");
			strncat(buf, w->text, w->len);
		}
		ty->kind = IDL_TY_SCALAR;
		ty->cname = idl_strndup(p->cx, buf, strlen(buf));
	} else if (p->tok->kind == TK_IDENT && !is_keyword(p->tok)) {
		struct idl_tok *t = next(p); /* a typedef name: bool, u32, size_t, netdev_tx_t */
		ty->kind = IDL_TY_SCALAR;
		ty->cname = tok_str(p, t);
	} else {
		idl_error(p->cx, p->tok, "expected a type, found %s", found(p));
		return false;
	}
	if (accept(p, "*")) {
		ty->ptr = 1;
		if (at(p, "*")) {
			idl_error(p->cx, p->tok, "pointers to pointers cannot cross a domain boundary");
			return false;
		}
	}
	return true;
}

/* ---- declarations ------------------------------------------------------------------- */

static bool parse_params(struct parser *p, struct idl_rpc *r)
{
	if (!expect(p, "(", "to open the parameter list"))
		return false;
	if (at(p, "void") && idl_tok_is(p->tok->next, ")")) {
		next(p);
		next(p);
		return true;
	}
	if (accept(p, ")"))
		return true;
	struct idl_var **tail = &r->params;
	do {
		struct idl_var *v = idl_alloc(p->cx, sizeof(*v));
		if (at(p, "[") && !attr_list(p, &v->attrs))
			return false;
		if (!parse_type(p, &v->type, &v->attrs))
			return false;
		if (!maybe_attrs(p, &v->attrs))
			return false;
		v->name = expect_ident(p, "a parameter name");
		if (!v->name)
			return false;
		v->cname = tok_str(p, v->name);
		v->index = r->nparams++;
		*tail = v;
		tail = &v->next;
	} while (accept(p, ","));
	return expect(p, ")", "to close the parameter list");
}

/* After 'rpc' or 'rpc_ptr': attrs? type NAME '(' params ')' ';' */
static struct idl_rpc *parse_rpc(struct parser *p, bool is_ptr)
{
	struct idl_rpc *r = idl_alloc(p->cx, sizeof(*r));
	r->is_ptr = is_ptr;
	if (!maybe_attrs(p, &r->ret_attrs) || !parse_type(p, &r->ret, &r->ret_attrs) ||
	    !maybe_attrs(p, &r->ret_attrs))
		return NULL;
	r->name = expect_ident(p, is_ptr ? "the name of the function-pointer field" : "the rpc's name");
	if (!r->name)
		return NULL;
	r->cname = tok_str(p, r->name);
	if (!parse_params(p, r) || !expect(p, ";", "after the rpc declaration"))
		return NULL;
	return r;
}

static struct idl_var *parse_field(struct parser *p)
{
	struct idl_var *v = idl_alloc(p->cx, sizeof(*v));
	if (at(p, "rpc_ptr")) {
		v->type.tok = next(p);
		struct idl_rpc *fn = parse_rpc(p, true);
		if (!fn)
			return NULL;
		v->type.kind = IDL_TY_RPC_PTR;
		v->type.fn = fn;
		v->name = fn->name;
		v->cname = fn->cname;
		return v;
	}
	if (at(p, "rpc")) {
		idl_error(p->cx, p->tok, "a projection holds function pointers as 'rpc_ptr', not 'rpc'");
		return NULL;
	}
	if (!maybe_attrs(p, &v->attrs) || !parse_type(p, &v->type, &v->attrs) ||
	    !maybe_attrs(p, &v->attrs))
		return NULL;
	v->name = expect_ident(p, "a field name");
	if (!v->name)
		return NULL;
	v->cname = tok_str(p, v->name);
	if (at(p, "[") && p->tok->next->kind == TK_NUM) {
		struct idl_tok *open = next(p);
		if (v->type.kind == IDL_TY_PROJ || v->type.ptr) {
			idl_error(p->cx, open, "an array of pointers cannot cross a domain boundary");
			return NULL;
		}
		struct idl_tok *n = next(p);
		if (n->num == 0 || n->num > 65536) {
			idl_error(p->cx, n, "array length must be 1..65536");
			return NULL;
		}
		v->type.fixed_len = n->num;
		v->type.kind = IDL_TY_FIXED;
		if (!expect(p, "]", NULL))
			return NULL;
	}
	if (!expect(p, ";", "after the field"))
		return NULL;
	return v;
}

static struct idl_proj *parse_projection(struct parser *p, struct idl_module *m)
{
	struct idl_proj *pr = idl_alloc(p->cx, sizeof(*pr));
	pr->mod = m;
	if (!expect(p, "<", "before the real structure ('projection <struct TAG> NAME')") ||
	    !expect(p, "struct", "('projection <struct TAG> NAME')"))
		return NULL;
	pr->tag = expect_ident(p, "a structure tag");
	if (!pr->tag || !expect(p, ">", NULL))
		return NULL;
	pr->ctag = tok_str(p, pr->tag);
	pr->name = expect_ident(p, "the projection's name");
	if (!pr->name)
		return NULL;
	pr->cname = tok_str(p, pr->name);
	if (!maybe_attrs(p, &pr->attrs) || !expect(p, "{", "to open the projection"))
		return NULL;
	struct idl_var **tail = &pr->fields;
	while (!at(p, "}") && !at_eof(p) && !idl_too_many_errors(p->cx)) {
		struct idl_var *f = parse_field(p);
		if (!f) {
			sync(p);
			continue;
		}
		*tail = f;
		tail = &f->next;
	}
	if (!expect(p, "}", "to close the projection"))
		return NULL;
	/* The block is complete: keep it even if the ';' is missing (reported). */
	expect(p, ";", "after the projection");
	return pr;
}

static struct idl_module *parse_module(struct parser *p)
{
	struct idl_module *m = idl_alloc(p->cx, sizeof(*m));
	m->name = expect_ident(p, "the module's name");
	if (!m->name)
		return NULL;
	m->cname = tok_str(p, m->name);
	m->exporter = IDL_KERNEL;
	while (at(p, "[")) {
		next(p);
		struct idl_tok *t = expect_ident(p, "a module annotation");
		if (!t)
			return NULL;
		if (!idl_tok_is(t, "export")) {
			idl_error(p->cx, t, "unknown module annotation '%.*s' (a module takes 'export(kernel)' or 'export(domain)')",
				  (int)t->len, t->text);
			return NULL;
		}
		struct idl_tok *side = attr_ident_arg(p, t);
		if (!side)
			return NULL;
		if (idl_tok_is(side, "kernel"))
			m->exporter = IDL_KERNEL;
		else if (idl_tok_is(side, "domain"))
			m->exporter = IDL_DOMAIN;
		else
			idl_error(p->cx, side, "'export' takes 'kernel' or 'domain', not '%.*s'",
				  (int)side->len, side->text);
		m->exporter_tok = side;
		if (!expect(p, "]", NULL))
			return NULL;
	}
	if (!expect(p, "{", "to open the module"))
		return NULL;
	struct idl_include **itail = &m->includes;
	struct idl_proj **ptail = &m->projs;
	struct idl_rpc **rtail = &m->rpcs;
	while (!at(p, "}") && !at_eof(p) && !idl_too_many_errors(p->cx)) {
		if (accept(p, "include")) {
			if (p->tok->kind != TK_STR || p->tok->len < 3) {
				idl_error(p->cx, p->tok, "expected a header path in quotes, found %s", found(p));
				sync(p);
				continue;
			}
			struct idl_include *inc = idl_alloc(p->cx, sizeof(*inc));
			inc->tok = next(p);
			inc->path = idl_strndup(p->cx, inc->tok->text + 1, inc->tok->len - 2);
			if (!expect(p, ";", "after the include")) {
				sync(p);
				continue;
			}
			*itail = inc;
			itail = &inc->next;
		} else if (accept(p, "projection")) {
			struct idl_proj *pr = parse_projection(p, m);
			if (!pr) {
				sync(p);
				continue;
			}
			*ptail = pr;
			ptail = &pr->next;
		} else if (accept(p, "rpc")) {
			struct idl_rpc *r = parse_rpc(p, false);
			if (!r) {
				sync(p);
				continue;
			}
			r->mod = m;
			*rtail = r;
			rtail = &r->next;
		} else {
			idl_error(p->cx, p->tok,
				  "expected 'include', 'projection' or 'rpc' in a module, found %s", found(p));
			sync(p);
		}
	}
	if (!expect(p, "}", "to close the module"))
		return NULL;
	accept(p, ";");
	return m;
}

struct idl_file *idl_parse(struct idl_ctx *cx, struct idl_tok *toks)
{
	struct parser p = { .cx = cx, .tok = toks };
	struct idl_file *f = idl_alloc(cx, sizeof(*f));
	struct idl_module **tail = &f->modules;
	while (!at_eof(&p) && !idl_too_many_errors(cx)) {
		if (!accept(&p, "module")) {
			idl_error(cx, p.tok, "expected 'module', found %s", found(&p));
			/* Skip to the next 'module' keyword. */
			next(&p);
			while (!at_eof(&p) && !at(&p, "module"))
				next(&p);
			continue;
		}
		struct idl_module *m = parse_module(&p);
		if (!m) {
			while (!at_eof(&p) && !at(&p, "module"))
				next(&p);
			continue;
		}
		*tail = m;
		tail = &m->next;
	}
	return f;
}
