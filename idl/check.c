/* SPDX-License-Identifier: MIT */
/*
 * The checker: resolves projection names and count/arena/private
 * references, decides what each pointer is (projection, string, array,
 * arena buffer), and rejects annotations that make no sense where they
 * stand.  What cannot be checked here (that a field really exists in the
 * C structure with the declared type) the generated code checks at compile
 * time with _Static_assert.
 */
#include <string.h>

#include "idl.h"

/* Limits the generated glue relies on (lib/glue sizes its buffers from them). */
#define IDL_MAX_STRING 4096u
#define IDL_MAX_INSTANCES 64u
#define IDL_DEFAULT_INSTANCES 8u
#define IDL_MAX_OP 0x3fffffu
#define IDL_MAX_PARAMS 16u
#define IDL_MAX_PROJECTIONS 63u /* capability type ids 1..63 (lxds/cap.h) */

struct checker {
	struct idl_ctx *cx;
	struct idl_file *f;
	unsigned errors_before;
};

/* Spellings of C integer types accepted as scalars (plus any one-word typedef name). */
static const char *const c_scalars[] = {
	"char", "signed char", "unsigned char", "short", "short int", "signed short",
	"unsigned short", "unsigned short int", "int", "signed", "signed int", "unsigned",
	"unsigned int", "long", "long int", "signed long", "unsigned long", "unsigned long int",
	"long long", "long long int", "signed long long", "unsigned long long",
	"unsigned long long int",
};

static bool known_scalar(const char *s)
{
	if (!strncmp(s, "enum ", 5))
		return true;
	if (!strchr(s, ' ') && strcmp(s, "short") && strcmp(s, "long") && strcmp(s, "signed") &&
	    strcmp(s, "unsigned"))
		return true; /* a typedef or a one-word C type */
	for (size_t i = 0; i < sizeof(c_scalars) / sizeof(c_scalars[0]); i++)
		if (!strcmp(s, c_scalars[i]))
			return true;
	return false;
}

static struct idl_proj *find_proj(struct checker *ck, const struct idl_tok *name)
{
	for (struct idl_module *m = ck->f->modules; m; m = m->next)
		for (struct idl_proj *p = m->projs; p; p = p->next)
			if (p->name->len == name->len && !memcmp(p->name->text, name->text, name->len))
				return p;
	return NULL;
}

static struct idl_var *find_var(struct idl_var *list, const struct idl_tok *name)
{
	for (struct idl_var *v = list; v; v = v->next)
		if (v->name && v->name->len == name->len && !memcmp(v->name->text, name->text, name->len))
			return v;
	return NULL;
}

/* Resolve a count/arena/private reference to a scalar in the same list. */
static struct idl_var *resolve_len(struct checker *ck, struct idl_var *list, struct idl_var *self,
				   const struct idl_tok *ref, const char *what)
{
	struct idl_var *v = find_var(list, ref);
	if (!v) {
		idl_error(ck->cx, ref, "%s '%.*s' names no %s in this list", what, (int)ref->len,
			  ref->text, "parameter or field");
		return NULL;
	}
	if (v == self) {
		idl_error(ck->cx, ref, "%s of '%s' cannot be itself", what, self->cname);
		return NULL;
	}
	if (v->type.kind != IDL_TY_SCALAR || v->type.ptr) {
		idl_error(ck->cx, ref, "%s '%s' must be an integer, not a pointer or structure", what,
			  v->cname);
		idl_note(ck->cx, v->name, "'%s' is declared here", v->cname);
		return NULL;
	}
	v->is_length = true;
	return v;
}

enum ctx_kind { CTX_PARAM, CTX_FIELD, CTX_RETURN };

/* Decide the kind of @v's type and check the annotations that go with it. */
static void check_var(struct checker *ck, struct idl_var *v, struct idl_var *list, enum ctx_kind ctx)
{
	struct idl_type *t = &v->type;
	struct idl_attrs *a = &v->attrs;
	const char *name = v->cname;

	if (t->kind == IDL_TY_RPC_PTR)
		return; /* checked as an rpc */
	if (a->instances)
		idl_error(ck->cx, a->instances_tok, "'instances' belongs on a projection, not on '%s'", name);
	if (t->kind == IDL_TY_FIXED && !strcmp(t->cname, "void")) {
		idl_error(ck->cx, t->tok, "an array of void has no size");
		return;
	}
	if ((t->kind == IDL_TY_SCALAR || t->kind == IDL_TY_FIXED) && !known_scalar(t->cname)) {
		idl_error(ck->cx, t->tok, "'%s' is not a C integer type", t->cname);
		return;
	}
	if ((t->kind == IDL_TY_SCALAR || t->kind == IDL_TY_FIXED) && (!strcmp(t->cname, "float") || !strcmp(t->cname, "double"))) {
		idl_error(ck->cx, t->tok, "floating point does not cross a kernel interface");
		return;
	}
	if (t->kind == IDL_TY_VOID && !t->ptr) {
		idl_error(ck->cx, t->tok, "'%s' cannot have type void", name);
		return;
	}

	int ptr_kinds = (a->string_max != 0) + (a->count != NULL) + (a->arena != NULL);
	if (t->kind == IDL_TY_PROJ) {
		t->proj = find_proj(ck, t->proj_tok);
		if (!t->proj)
			idl_error(ck->cx, t->proj_tok, "unknown projection '%.*s'", (int)t->proj_tok->len,
				  t->proj_tok->text);
		if (ptr_kinds)
			idl_error(ck->cx, a->tok, "string, count and arena do not apply to projection '%s'",
				  name);
		if (!a->lifetime)
			idl_error(ck->cx, t->proj_tok,
				  "projected pointer '%s' needs alloc(...), dealloc(...) or bind(...) to say "
				  "what happens to the shadow copy",
				  name);
		if (a->priv && ctx != CTX_RETURN)
			idl_error(ck->cx, a->priv, "private(...) applies to a returned object only");
		if (a->dir & IDL_DIR_OUT && ctx == CTX_FIELD)
			idl_error(ck->cx, a->dir_tok,
				  "a nested projection '%s' cannot be [out]: links between objects are set "
				  "by the side that sends them",
				  name);
		if (ctx == CTX_FIELD && a->lifetime == IDL_LT_DEALLOC)
			idl_error(ck->cx, a->lt_tok,
				  "dealloc applies to parameters: a field's object is destroyed by its own call");
		if (ctx == CTX_RETURN && a->lifetime == IDL_LT_DEALLOC)
			idl_error(ck->cx, a->lt_tok, "a returned object cannot be deallocated by the call");
		if (ctx == CTX_RETURN && a->lifetime == IDL_LT_ALLOC && a->lt_party != IDL_CALLER)
			idl_error(ck->cx, a->lt_tok,
				  "a returned object's shadow is the caller's: write alloc(caller)");
		if (ctx != CTX_RETURN && a->lifetime == IDL_LT_ALLOC && a->lt_party != IDL_CALLEE)
			idl_error(ck->cx, a->lt_tok,
				  "the caller cannot create a shadow of what it passes: alloc(callee) "
				  "creates the callee's copy");
		if (a->priv)
			v->priv_var = resolve_len(ck, list, NULL, a->priv, "private");
		if (ctx == CTX_RETURN && a->dir && a->dir != IDL_DIR_OUT)
			idl_error(ck->cx, a->dir_tok, "a return value only goes out");
		if (ctx == CTX_RETURN)
			a->dir = IDL_DIR_OUT;
		if (ctx == CTX_PARAM && !a->dir)
			a->dir = IDL_DIR_IN | IDL_DIR_OUT; /* the fields' own directions decide */
		if (ctx == CTX_FIELD && !a->dir)
			a->dir = IDL_DIR_IN;
		return;
	}

	if (a->lifetime)
		idl_error(ck->cx, a->lt_tok, "alloc, dealloc and bind apply to projected pointers, not '%s'",
			  name);
	if (a->priv)
		idl_error(ck->cx, a->priv, "private(...) applies to a returned projected pointer only");
	if (!a->dir)
		a->dir = ctx == CTX_RETURN ? IDL_DIR_OUT : IDL_DIR_IN;

	if (!t->ptr) {
		if (ptr_kinds)
			idl_error(ck->cx, a->tok, "string, count and arena apply to pointers; '%s' is not one",
				  name);
		if (t->kind == IDL_TY_FIXED && ctx != CTX_FIELD)
			idl_error(ck->cx, v->name, "fixed-size arrays are fields only");
		if (ctx == CTX_PARAM && (a->dir & IDL_DIR_OUT))
			idl_error(ck->cx, a->dir_tok,
				  "scalar parameter '%s' cannot be [out]: C passes it by value", name);
		if (ctx == CTX_RETURN && t->kind != IDL_TY_VOID && a->dir != IDL_DIR_OUT)
			idl_error(ck->cx, a->dir_tok, "a return value only goes out");
		return;
	}

	/* A pointer to scalars or void: what it is depends on its annotation. */
	if (t->kind == IDL_TY_FIXED) {
		idl_error(ck->cx, v->name, "an array of pointers cannot cross");
		return;
	}
	if (ctx == CTX_RETURN) {
		idl_error(ck->cx, t->tok,
			  "an rpc returns a scalar or a projected pointer; return data through an [out] "
			  "array or an arena buffer");
		return;
	}
	if (ptr_kinds == 0) {
		idl_error(ck->cx, v->name,
			  "pointer '%s' needs [string(N)], [count(NAME)] or [arena(NAME)] to say how much "
			  "crosses (a structure needs a projection)",
			  name);
		return;
	}
	if (ptr_kinds > 1) {
		idl_error(ck->cx, a->tok, "'%s' can be only one of string, count and arena", name);
		return;
	}
	if (a->string_max) {
		t->kind = IDL_TY_STRING;
		if (strcmp(t->cname, "char"))
			idl_error(ck->cx, a->string_tok, "string(...) applies to char pointers, not '%s *'",
				  t->cname);
		if (a->string_max > IDL_MAX_STRING)
			idl_error(ck->cx, a->string_tok, "string bound %llu exceeds the limit of %u bytes",
				  (unsigned long long)a->string_max, IDL_MAX_STRING);
		if (a->dir & IDL_DIR_OUT)
			idl_error(ck->cx, a->dir_tok,
				  "string '%s' goes in only; return text through an [out] char array", name);
	} else if (a->count) {
		t->kind = IDL_TY_ARRAY;
		if (!strcmp(t->cname, "void"))
			idl_error(ck->cx, a->count, "count(...) needs a typed element; a void buffer uses arena(...)");
		v->count_var = resolve_len(ck, list, v, a->count, "count");
		if (v->count_var && ctx == CTX_FIELD && (v->count_var->attrs.dir | a->dir) != v->count_var->attrs.dir)
			idl_error(ck->cx, a->count,
				  "count field '%s' must cross whenever '%s' does: give it the same direction",
				  v->count_var->cname, name);
	} else {
		t->kind = IDL_TY_ARENA;
		v->arena_var = resolve_len(ck, list, v, a->arena, "arena");
		if (v->arena_var && ctx == CTX_FIELD && (v->arena_var->attrs.dir | a->dir) != v->arena_var->attrs.dir)
			idl_error(ck->cx, a->arena,
				  "length field '%s' must cross whenever '%s' does: give it the same direction",
				  v->arena_var->cname, name);
	}
}

static void check_names(struct checker *ck, struct idl_var *list, const char *what)
{
	for (struct idl_var *v = list; v; v = v->next)
		for (struct idl_var *w = v->next; w; w = w->next)
			if (v->name->len == w->name->len && !memcmp(v->name->text, w->name->text, v->name->len)) {
				idl_error(ck->cx, w->name, "%s '%s' declared twice", what, w->cname);
				idl_note(ck->cx, v->name, "first declared here");
			}
}

/*
 * [callback] is the rpc's, not its return value's: take it out of the
 * return annotations (a list that held only it is no list at all).  Its
 * caller gets NAME_cb(), which returns once the request is sent, and
 * NAME_reply(), which decodes the answer inside the callback: nothing of
 * the call may need the caller's stack or shadows afterwards, so its
 * parameters are scalars, strings, arrays and arena buffers only.
 */
static void check_callback(struct checker *ck, struct idl_rpc *r)
{
	struct idl_attrs *a = &r->ret_attrs;
	const struct idl_tok *cb = a->callback_tok;
	if (!cb)
		return;
	a->callback_tok = NULL;
	if (!a->dir && !a->lifetime && !a->count && !a->arena && !a->priv && !a->string_max && !a->instances)
		a->tok = NULL;
	if (r->is_ptr) {
		idl_error(ck->cx, cb, "callback applies to a module's rpc, not to rpc_ptr '%s'", r->cname);
		return;
	}
	r->callback = true;
	if (r->ret.kind == IDL_TY_PROJ)
		idl_error(ck->cx, cb,
			  "callback rpc '%s' cannot return a projection: its shadow would be made after the "
			  "caller moved on",
			  r->cname);
	for (const struct idl_var *v = r->params; v; v = v->next)
		if (v->type.kind == IDL_TY_PROJ)
			idl_error(ck->cx, v->name,
				  "callback rpc '%s' takes scalars, strings, arrays and arena buffers; "
				  "projection '%s' would need its shadows kept in sync after the call returned",
				  r->cname, v->cname);
}

/* Annotations that belong to an rpc, found on something else. */
static void no_callback(struct checker *ck, const struct idl_attrs *a)
{
	if (a->callback_tok)
		idl_error(ck->cx, a->callback_tok, "callback applies to an rpc, before its return type");
}

static void check_rpc(struct checker *ck, struct idl_rpc *r)
{
	check_callback(ck, r);
	if (r->nparams > IDL_MAX_PARAMS)
		idl_error(ck->cx, r->name, "'%s' has %u parameters; at most %u", r->cname, r->nparams,
			  IDL_MAX_PARAMS);
	check_names(ck, r->params, "parameter");
	for (struct idl_var *v = r->params; v; v = v->next) {
		no_callback(ck, &v->attrs);
		check_var(ck, v, r->params, CTX_PARAM);
	}
	struct idl_var ret = { .name = r->name, .cname = "the return value", .type = r->ret,
			       .attrs = r->ret_attrs };
	if (r->ret.kind != IDL_TY_VOID || r->ret.ptr)
		check_var(ck, &ret, r->params, CTX_RETURN);
	else if (r->ret_attrs.tok)
		idl_error(ck->cx, r->ret_attrs.tok, "a void rpc takes no return annotations");
	r->ret = ret.type;
	r->ret_attrs = ret.attrs;
	r->ret_priv = ret.priv_var; /* its value stays with the caller: sent as 0 */
}

/* Nested projections marshalled by value (alloc) must not form a cycle. */
static bool find_cycle(struct checker *ck, struct idl_proj *p)
{
	if (p->visit == 1) {
		idl_error(ck->cx, p->name,
			  "projection '%s' contains itself through alloc(...) fields; use bind(...) on "
			  "one link of the cycle",
			  p->cname);
		return true;
	}
	if (p->visit == 2)
		return false;
	p->visit = 1;
	for (struct idl_var *f = p->fields; f; f = f->next)
		if (f->type.kind == IDL_TY_PROJ && f->type.proj && f->attrs.lifetime == IDL_LT_ALLOC &&
		    find_cycle(ck, f->type.proj)) {
			p->visit = 2;
			return true;
		}
	p->visit = 2;
	return false;
}

unsigned idl_check(struct idl_ctx *cx, struct idl_file *f)
{
	struct checker ck = { .cx = cx, .f = f, .errors_before = cx->errors };
	uint32_t op = 0;
	unsigned pid = 0;

	for (struct idl_module *m = f->modules; m; m = m->next) {
		for (struct idl_module *n = m->next; n; n = n->next)
			if (!strcmp(m->cname, n->cname)) {
				idl_error(cx, n->name, "module '%s' declared twice", n->cname);
				idl_note(cx, m->name, "first declared here");
			}
		for (struct idl_proj *p = m->projs; p; p = p->next) {
			p->id = ++pid;
			if (p->id > IDL_MAX_PROJECTIONS)
				idl_error(cx, p->name, "more than %u projections in one file", IDL_MAX_PROJECTIONS);
			for (struct idl_module *m2 = m; m2; m2 = m2->next)
				for (struct idl_proj *q = m2 == m ? p->next : m2->projs; q; q = q->next)
					if (!strcmp(p->cname, q->cname)) {
						idl_error(cx, q->name, "projection '%s' declared twice", q->cname);
						idl_note(cx, p->name, "first declared here");
					}
		}
		for (struct idl_rpc *r = m->rpcs; r; r = r->next)
			for (struct idl_module *m2 = m; m2; m2 = m2->next)
				for (struct idl_rpc *q = m2 == m ? r->next : m2->rpcs; q; q = q->next)
					if (!strcmp(r->cname, q->cname)) {
						idl_error(cx, q->name, "rpc '%s' declared twice", q->cname);
						idl_note(cx, r->name, "first declared here");
					}
	}

	/* Module rpcs are numbered first, then function-pointer fields. */
	for (struct idl_module *m = f->modules; m; m = m->next)
		for (struct idl_rpc *r = m->rpcs; r; r = r->next)
			r->op = op++;
	/* Projections before rpcs: the order files are usually written in,
	 * so the errors come out in source order. */
	for (struct idl_module *m = f->modules; m; m = m->next) {
		if (!m->includes)
			idl_error(cx, m->name,
				  "module '%s' includes no header: the generated code needs the real types "
				  "(include \"...\";)",
				  m->cname);
		for (struct idl_proj *p = m->projs; p; p = p->next) {
			if (p->attrs.dir || p->attrs.lifetime || p->attrs.count || p->attrs.arena ||
			    p->attrs.priv || p->attrs.string_max)
				idl_error(cx, p->attrs.tok, "a projection takes only instances(N)");
			no_callback(&ck, &p->attrs);
			check_names(&ck, p->fields, "field");
			for (struct idl_var *v = p->fields; v; v = v->next) {
				no_callback(&ck, &v->attrs);
				check_var(&ck, v, p->fields, CTX_FIELD);
				if (v->type.kind == IDL_TY_RPC_PTR) {
					struct idl_rpc *fn = v->type.fn;
					fn->owner = p;
					fn->mod = m;
					fn->op = op++;
					p->has_rpc_ptrs = true;
					check_rpc(&ck, fn);
				}
			}
			if (p->attrs.instances > IDL_MAX_INSTANCES)
				idl_error(cx, p->attrs.instances_tok, "at most %u instances", IDL_MAX_INSTANCES);
			if (!p->attrs.instances)
				p->attrs.instances = IDL_DEFAULT_INSTANCES;
			if (!p->fields)
				idl_error(cx, p->name, "projection '%s' has no fields", p->cname);
		}
		for (struct idl_rpc *r = m->rpcs; r; r = r->next) {
			check_rpc(&ck, r);
			m->nrpcs++;
		}
	}
	if (op > IDL_MAX_OP + 1)
		idl_error(cx, NULL, "more than %u rpcs", IDL_MAX_OP + 1);
	for (struct idl_module *m = f->modules; m; m = m->next)
		for (struct idl_proj *p = m->projs; p; p = p->next)
			if (!p->visit)
				find_cycle(&ck, p);
	return cx->errors - ck.errors_before;
}

struct idl_file *idl_compile(struct idl_ctx *cx)
{
	struct idl_tok *toks = idl_lex(cx);
	struct idl_file *f = idl_parse(cx, toks);
	if (!f->modules && !cx->errors)
		idl_error(cx, NULL, "no module in this file");
	/* Checking a tree with holes would report the holes again, as
	 * "unknown projection" and the like: check only a clean parse. */
	if (!cx->errors)
		idl_check(cx, f);
	return cx->errors ? NULL : f;
}
