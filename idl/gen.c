/* SPDX-License-Identifier: MIT */
/*
 * The glue emitter: one C file per side (kernel or domain) per IDL file.
 * What each side gets (docs/idl.md, "What is generated"):
 *
 *   - compile-time checks that every projected field exists in the real
 *     structure with the declared type, and that every rpc has the
 *     declared prototype;
 *   - per projection: put_ (marshal fields of one direction), get_
 *     (unmarshal into a shadow or into the owner's object), free_;
 *   - caller stubs with the exact C prototype of each rpc the other side
 *     exports, and trampolines for every function-pointer field;
 *   - callee handlers (unmarshal, look up or create shadows through
 *     references, call the real function, send back [out] data and the
 *     return value), and the handler table the async endpoint uses.
 *
 * The emitted code relies only on lxds/glue.h.  Word counts that decide
 * inline versus spilled calls are emitted as C constant expressions, so
 * both sides compute them from the same headers (sizeof of fixed arrays).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "idl.h"

struct gen {
	FILE *o;
	const struct idl_file *f;
	enum idl_side side;
	const char *file;  /* the IDL file name, for messages */
	char base[64];     /* C identifier from the file's base name */
	struct idl_ctx *cx; /* arena for the strings built while emitting */
};

static void emit(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(g->o, fmt, ap);
	va_end(ap);
}

/* ---- C spellings ----------------------------------------------------------------------- */

/* The C type of @t without a name ("const struct dev *", "unsigned int", "u8 *"). */
static const char *type_s(struct gen *g, const struct idl_type *t)
{
	const char *c = t->is_const ? "const " : "";
	switch (t->kind) {
	case IDL_TY_VOID:
		return idl_fmt(g->cx, "%svoid%s", c, t->ptr ? " *" : "");
	case IDL_TY_PROJ:
		return idl_fmt(g->cx, "%sstruct %s *", c, t->proj->ctag);
	case IDL_TY_SCALAR:
	case IDL_TY_FIXED:
		return idl_fmt(g->cx, "%s%s", c, t->cname);
	default:
		return idl_fmt(g->cx, "%s%s *", c, t->cname);
	}
}

/* "TYPE name", with no space after a '*'. */
static const char *decl_s(struct gen *g, const struct idl_type *t, const char *name)
{
	const char *ty = type_s(g, t);
	size_t l = strlen(ty);
	return idl_fmt(g->cx, "%s%s%s", ty, l && ty[l - 1] == '*' ? "" : " ", name);
}

/* "RET " or "RET *": a return type followed by a name. */
static const char *ret_s(struct gen *g, const struct idl_rpc *r)
{
	const char *ty = type_s(g, &r->ret);
	return idl_fmt(g->cx, "%s%s", ty, ty[strlen(ty) - 1] == '*' ? "" : " ");
}

static bool returns_value(const struct idl_rpc *r) { return r->ret.kind != IDL_TY_VOID || r->ret.ptr; }

/*
 * A parameter's name in generated code: prefixed, so no parameter can
 * collide with the glue's own locals (g, out, err...).  C lets a
 * definition name its parameters differently from the header.
 */
static const char *pn(struct gen *g, const struct idl_var *v)
{
	return idl_fmt(g->cx, "p_%s", v->cname);
}

/* The parameter list, with or without names ("void" when empty). */
static const char *params_s(struct gen *g, const struct idl_rpc *r, bool names)
{
	if (!r->params)
		return "void";
	const char *acc = "";
	for (const struct idl_var *v = r->params; v; v = v->next)
		acc = idl_fmt(g->cx, "%s%s%s", acc, v == r->params ? "" : ", ",
			      names ? decl_s(g, &v->type, pn(g, v)) : type_s(g, &v->type));
	return acc;
}

/* The argument list "a, b, c". */
static const char *args_s(struct gen *g, const struct idl_rpc *r)
{
	const char *acc = "";
	for (const struct idl_var *v = r->params; v; v = v->next)
		acc = idl_fmt(g->cx, "%s%s%s", acc, v == r->params ? "" : ", ", pn(g, v));
	return acc;
}


/* "RET (*)(T1, T2)": the function-pointer type of @r. */
static const char *fnptr_s(struct gen *g, const struct idl_rpc *r)
{
	return idl_fmt(g->cx, "%s (*)(%s)", type_s(g, &r->ret), params_s(g, r, false));
}

/* Symbol-safe name of an rpc: NAME for module rpcs, PROJ__FIELD for rpc_ptrs. */
static const char *rpc_id(struct gen *g, const struct idl_rpc *r)
{
	return r->is_ptr ? idl_fmt(g->cx, "%s__%s", r->owner->cname, r->cname) : r->cname;
}

/* ---- who does what ----------------------------------------------------------------------------- */

/* For a projected pointer crossing from sender to receiver: does the sender own the object? */
static bool sender_owns(const struct idl_attrs *a, bool flow_from_caller)
{
	/* The annotation names whose shadow it acts on: the receiver's when
	 * the sender owns the object. */
	enum idl_party receiver = flow_from_caller ? IDL_CALLEE : IDL_CALLER;
	return a->lt_party == receiver;
}

/* The owner a side expects: "we own it" or "the peer does". */
static const char *owner_s(bool ours)
{
	return ours ? "LXD_GLUE_OWNER_US" : "LXD_GLUE_OWNER_PEER";
}

/* ---- word counts ----------------------------------------------------------------------------------- */

struct words {
	char expr[4096];
	bool variable; /* contains strings or arrays: size known only at run time */
};

static void words_add(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void words_add(struct words *w, const char *fmt, ...)
{
	size_t at = strlen(w->expr);
	if (at + 4 >= sizeof(w->expr)) {
		w->variable = true; /* too long to spell out: treat as unknown */
		return;
	}
	if (at)
		at += (size_t)snprintf(w->expr + at, sizeof(w->expr) - at, " + ");
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(w->expr + at, sizeof(w->expr) - at, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(w->expr) - at) {
		w->expr[at] = 0;
		w->variable = true;
	}
}

static void proj_words(struct words *w, const struct idl_proj *p, unsigned dir, int depth)
{
	if (depth > 16) {
		w->variable = true;
		return;
	}
	for (const struct idl_var *v = p->fields; v; v = v->next) {
		if (v->type.kind == IDL_TY_RPC_PTR || !(v->attrs.dir & dir))
			continue;
		switch (v->type.kind) {
		case IDL_TY_SCALAR:
		case IDL_TY_ARENA:
			words_add(w, "1");
			break;
		case IDL_TY_FIXED:
			words_add(w, "((sizeof(((struct %s *)0)->%s) + 7) / 8)", p->ctag, v->cname);
			break;
		case IDL_TY_PROJ:
			words_add(w, "1");
			if (v->attrs.lifetime == IDL_LT_ALLOC)
				proj_words(w, v->type.proj, dir, depth + 1);
			break;
		default:
			w->variable = true;
			break;
		}
	}
	if (p->has_rpc_ptrs)
		words_add(w, "1");
}

/* Does put_ write anything for @p in direction @dir? */
static bool proj_has_content(const struct idl_proj *p, unsigned dir)
{
	if (p->has_rpc_ptrs)
		return true;
	for (const struct idl_var *v = p->fields; v; v = v->next)
		if (v->type.kind != IDL_TY_RPC_PTR && (v->attrs.dir & dir))
			return true;
	return false;
}

/*
 * Do @v's [out] fields come back in the reply?  Not for dealloc: the
 * object is gone once the call is through.  Such a parameter's fields are
 * preceded by a presence word, 0 when the callee's copy went away during
 * the call (a nested call freed it).
 */
static bool out_crosses(const struct idl_var *v)
{
	return v->type.kind == IDL_TY_PROJ && (v->attrs.dir & IDL_DIR_OUT) &&
	       v->attrs.lifetime != IDL_LT_DEALLOC && proj_has_content(v->type.proj, IDL_DIR_OUT);
}

static void request_words(struct words *w, const struct idl_rpc *r)
{
	memset(w, 0, sizeof(*w));
	if (r->is_ptr)
		words_add(w, "1");
	for (const struct idl_var *v = r->params; v; v = v->next) {
		switch (v->type.kind) {
		case IDL_TY_SCALAR:
		case IDL_TY_ARENA:
			words_add(w, "1");
			break;
		case IDL_TY_PROJ:
			words_add(w, "1");
			if (v->attrs.dir & IDL_DIR_IN)
				proj_words(w, v->type.proj, IDL_DIR_IN, 0);
			break;
		case IDL_TY_ARRAY:
			if (v->attrs.dir & IDL_DIR_IN)
				w->variable = true;
			break;
		default:
			w->variable = true;
			break;
		}
	}
	if (!w->expr[0])
		snprintf(w->expr, sizeof(w->expr), "0");
}

static void reply_words(struct words *w, const struct idl_rpc *r)
{
	memset(w, 0, sizeof(*w));
	if (r->ret.kind == IDL_TY_PROJ) {
		words_add(w, "1");
		proj_words(w, r->ret.proj, IDL_DIR_OUT, 0);
	} else if (returns_value(r)) {
		words_add(w, "1");
	}
	for (const struct idl_var *v = r->params; v; v = v->next) {
		if (out_crosses(v)) {
			words_add(w, "1");
			proj_words(w, v->type.proj, IDL_DIR_OUT, 0);
		} else if (v->type.kind == IDL_TY_ARRAY && (v->attrs.dir & IDL_DIR_OUT))
			w->variable = true;
	}
	if (!w->expr[0])
		snprintf(w->expr, sizeof(w->expr), "0");
}

/* ---- compile-time checks ------------------------------------------------------------------------- */

static void emit_field_check(struct gen *g, const struct idl_proj *p, const struct idl_var *v)
{
	const char *want;
	const char *tag = p->ctag, *f = v->cname;
	if (v->type.kind == IDL_TY_RPC_PTR) {
		want = fnptr_s(g, v->type.fn);
	} else if (v->type.kind == IDL_TY_FIXED) {
		want = idl_fmt(g->cx, "%s%s[%llu]", v->type.is_const ? "const " : "", v->type.cname,
			 (unsigned long long)v->type.fixed_len);
	} else if (v->type.kind == IDL_TY_PROJ) {
		/* const or not: ops tables are usually const */
		emit(g,
		     "_Static_assert(__builtin_types_compatible_p(__typeof__(((struct %s *)0)->%s), struct %s *) ||\n"
		     "               __builtin_types_compatible_p(__typeof__(((struct %s *)0)->%s), const struct %s *),\n"
		     "               \"%s:%u: projection %s: field %s of struct %s is not a pointer to struct %s\");\n",
		     tag, f, v->type.proj->ctag, tag, f, v->type.proj->ctag, g->file, v->name->line, p->cname, f,
		     tag, v->type.proj->ctag);
		return;
	} else {
		want = type_s(g, &v->type);
	}
	emit(g,
	     "_Static_assert(__builtin_types_compatible_p(__typeof__(((struct %s *)0)->%s), %s),\n"
	     "               \"%s:%u: projection %s: field %s of struct %s is not of type %s\");\n",
	     tag, f, want, g->file, v->name->line, p->cname, f, tag, want);
}

static void emit_checks(struct gen *g)
{
	emit(g, "/* ---- the IDL against the real headers: a mismatch fails the build here ---- */\n\n");
	for (const struct idl_module *m = g->f->modules; m; m = m->next) {
		for (const struct idl_proj *p = m->projs; p; p = p->next)
			for (const struct idl_var *v = p->fields; v; v = v->next)
				emit_field_check(g, p, v);
		for (const struct idl_rpc *r = m->rpcs; r; r = r->next) {
			const char *fp = fnptr_s(g, r);
			emit(g,
			     "_Static_assert(__builtin_types_compatible_p(__typeof__(&%s), %s),\n"
			     "               \"%s:%u: rpc %s: the header declares another prototype\");\n",
			     r->cname, fp, g->file, r->name->line, r->cname);
		}
	}
	emit(g, "\n");
}

/* ---- projections: put_, get_, free_ -------------------------------------------------------------- */

static void emit_proj_decls(struct gen *g)
{
	emit(g, "/* ---- projections ---- */\n\n");
	for (const struct idl_module *m = g->f->modules; m; m = m->next)
		for (const struct idl_proj *p = m->projs; p; p = p->next) {
			emit(g, "#define T_%s %uu /* capability type */\n", p->cname, p->id);
			emit(g, "GLUE_FN void put_%s(struct lxd_glue *g, struct lxd_glue_buf *b, const struct %s *o, unsigned dir);\n",
			     p->cname, p->ctag);
			emit(g, "GLUE_FN void get_%s(struct lxd_glue *g, struct lxd_glue_buf *b, struct %s *o, unsigned dir,\n"
				"\tstruct lxd_glue_shadow *sh);\n",
			     p->cname, p->ctag);
			emit(g, "GLUE_FN void free_%s(struct lxd_glue *g, struct lxd_glue_shadow *sh);\n", p->cname);
			if (p->has_rpc_ptrs)
				emit(g, "static struct lxd_glue_slot slots_%s[%llu];\n", p->cname,
				     (unsigned long long)p->attrs.instances);
		}
	emit(g, "\n");
}

static void emit_put(struct gen *g, const struct idl_proj *p)
{
	emit(g, "static void put_%s(struct lxd_glue *g, struct lxd_glue_buf *b, const struct %s *o, unsigned dir)\n{\n",
	     p->cname, p->ctag);
	emit(g, "\t(void)g;\n\t(void)dir;\n");
	for (const struct idl_var *v = p->fields; v; v = v->next) {
		const char *f = v->cname;
		if (v->type.kind == IDL_TY_RPC_PTR)
			continue;
		emit(g, "\tif (dir & %uu)", v->attrs.dir);
		switch (v->type.kind) {
		case IDL_TY_SCALAR:
			emit(g, "\n\t\tlxd_glue_put(b, (uint64_t)o->%s);\n", f);
			break;
		case IDL_TY_FIXED:
			emit(g, "\n\t\tlxd_glue_put_bytes(b, o->%s, sizeof(o->%s));\n", f, f);
			break;
		case IDL_TY_STRING:
			emit(g, "\n\t\tlxd_glue_put_string(b, o->%s, %llu);\n", f, (unsigned long long)v->attrs.string_max);
			break;
		case IDL_TY_ARRAY:
			emit(g, "\n\t\tlxd_glue_put_array(b, o->%s, (uint64_t)o->%s, sizeof(*o->%s));\n", f,
			     v->count_var->cname, f);
			break;
		case IDL_TY_ARENA:
			emit(g, "\n\t\tlxd_glue_put_arena(g, b, o->%s, (uint64_t)o->%s);\n", f, v->arena_var->cname);
			break;
		case IDL_TY_PROJ:
			/* Nested projections go caller -> callee only (check.c). */
			/* Nested objects cross both ways: the word says whose it is. */
			emit(g, " {\n\t\tlxd_glue_put_ref(g, b, o->%s, T_%s, LXD_GLUE_OWNER_ANY);\n", f,
			     v->type.proj->cname);
			if (v->attrs.lifetime == IDL_LT_ALLOC)
				emit(g, "\t\tif (o->%s)\n\t\t\tput_%s(g, b, o->%s, dir);\n", f, v->type.proj->cname, f);
			emit(g, "\t}\n");
			break;
		default:
			emit(g, ";\n");
			break;
		}
	}
	if (p->has_rpc_ptrs) {
		/* Which function pointers are set: the other side's trampolines mirror it. */
		emit(g, "\tlxd_glue_put(b, 0");
		unsigned bit = 0;
		for (const struct idl_var *v = p->fields; v; v = v->next)
			if (v->type.kind == IDL_TY_RPC_PTR)
				emit(g, " |\n\t\t(o->%s ? %lluull : 0)", v->cname, 1ull << bit++);
		emit(g, ");\n");
	}
	emit(g, "}\n\n");
}

static bool is_array_count(const struct idl_proj *p, const struct idl_var *c)
{
	for (const struct idl_var *v = p->fields; v; v = v->next)
		if (v->type.kind == IDL_TY_ARRAY && v->count_var == c)
			return true;
	return false;
}

static void emit_get(struct gen *g, const struct idl_proj *p)
{
	emit(g, "/*\n * Fields of direction @dir into @o: our shadow (@sh set) or our own object\n"
		" * (@sh NULL), where strings, arrays and their counts are not replaced: the\n"
		" * owner's pointers stay the owner's.\n */\n");
	emit(g, "static void get_%s(struct lxd_glue *g, struct lxd_glue_buf *b, struct %s *o, unsigned dir,\n"
		"\tstruct lxd_glue_shadow *sh)\n{\n",
	     p->cname, p->ctag);
	emit(g, "\t(void)g;\n\t(void)sh;\n\t(void)dir;\n");
	for (const struct idl_var *v = p->fields; v; v = v->next)
		if (v->type.kind == IDL_TY_ARRAY || v->type.kind == IDL_TY_ARENA)
			emit(g, "\tuint64_t n_%s = 0;\n\tbool got_%s = false;\n", v->cname, v->cname);
	for (const struct idl_var *v = p->fields; v; v = v->next) {
		const char *f = v->cname;
		if (v->type.kind == IDL_TY_RPC_PTR)
			continue;
		emit(g, "\tif (dir & %uu) {\n", v->attrs.dir);
		switch (v->type.kind) {
		case IDL_TY_SCALAR:
			if (is_array_count(p, v))
				emit(g, "\t\t__typeof__(o->%s) v = (__typeof__(o->%s))lxd_glue_get(b);\n"
					"\t\tif (sh && !b->err)\n\t\t\to->%s = v;\n",
				     f, f, f);
			else
				emit(g, "\t\t__typeof__(o->%s) v = (__typeof__(o->%s))lxd_glue_get(b);\n"
					"\t\tif (!b->err)\n\t\t\to->%s = v;\n",
				     f, f, f);
			break;
		case IDL_TY_FIXED:
			emit(g, "\t\tlxd_glue_get_bytes(b, o->%s, sizeof(o->%s));\n", f, f);
			break;
		case IDL_TY_STRING:
			emit(g, "\t\tbool is_null;\n\t\tchar *s = lxd_glue_get_string(b, %llu, &is_null);\n"
				"\t\tif (sh && !b->err) {\n\t\t\tfree((void *)o->%s);\n\t\t\to->%s = s;\n"
				"\t\t} else {\n\t\t\tfree(s);\n\t\t}\n",
			     (unsigned long long)v->attrs.string_max, f, f);
			break;
		case IDL_TY_ARRAY:
			emit(g, "\t\tn_%s = lxd_glue_get_count(b, %uu / sizeof(*o->%s));\n"
				"\t\tvoid *a = n_%s ? malloc(n_%s * sizeof(*o->%s)) : NULL;\n"
				"\t\tif (n_%s && !a && !b->err)\n\t\t\tb->err = -ENOMEM;\n"
				"\t\tlxd_glue_get_bytes(b, a, n_%s * sizeof(*o->%s));\n"
				"\t\tif (sh && !b->err) {\n\t\t\tfree((void *)o->%s);\n\t\t\to->%s = a;\n\t\t\tgot_%s = true;\n"
				"\t\t} else {\n\t\t\tfree(a);\n\t\t}\n",
			     f, 65536u * 8u, f, f, f, f, f, f, f, f, f, f);
			break;
		case IDL_TY_ARENA:
			emit(g, "\t\tvoid *p = lxd_glue_get_arena(g, b, &n_%s);\n"
				"\t\tif (!b->err) {\n\t\t\to->%s = p;\n\t\t\tgot_%s = true;\n\t\t}\n",
			     f, f, f);
			break;
		case IDL_TY_PROJ: {
			const struct idl_proj *q = v->type.proj;
			emit(g, "\t\tstruct lxd_glue_shadow *qs;\n"
				"\t\tstruct %s *q = lxd_glue_get_ref(g, b, T_%s, LXD_GLUE_OWNER_ANY, %s, sizeof(struct %s), 0, free_%s, &qs);\n",
			     q->ctag, q->cname,
			     v->attrs.lifetime == IDL_LT_ALLOC ? "true" : "false", q->ctag, q->cname);
			if (v->attrs.lifetime == IDL_LT_ALLOC)
				emit(g, "\t\tif (q)\n\t\t\tget_%s(g, b, q, dir, qs);\n", q->cname);
			emit(g, "\t\tif (!b->err)\n\t\t\to->%s = q;\n", f);
			break;
		}
		default:
			break;
		}
		emit(g, "\t}\n");
	}
	/* Cross-checks, on our copy: an array must be as long as its count says,
	 * an arena buffer at least as long as its length field. */
	for (const struct idl_var *v = p->fields; v; v = v->next) {
		if (v->type.kind == IDL_TY_ARRAY)
			emit(g, "\tif (got_%s && !b->err && (uint64_t)o->%s != n_%s)\n\t\tb->err = -EPROTO;\n",
			     v->cname, v->count_var->cname, v->cname);
		if (v->type.kind == IDL_TY_ARENA)
			emit(g, "\tif (got_%s && !b->err && (uint64_t)o->%s > n_%s)\n\t\tb->err = -EPROTO;\n",
			     v->cname, v->arena_var->cname, v->cname);
	}
	if (p->has_rpc_ptrs) {
		emit(g, "\tuint64_t mask = lxd_glue_get(b);\n");
		emit(g, "\tif (sh && !b->err) {\n");
		emit(g, "\t\tif (sh->slot < 0)\n\t\t\tsh->slot = lxd_glue_slot_take(slots_%s, %llu, g, sh->remote);\n",
		     p->cname, (unsigned long long)p->attrs.instances);
		emit(g, "\t\tif (sh->slot < 0) {\n\t\t\tb->err = -ENOSPC; /* raise instances(N) */\n\t\t\treturn;\n\t\t}\n");
		unsigned bit = 0;
		for (const struct idl_var *v = p->fields; v; v = v->next) {
			if (v->type.kind != IDL_TY_RPC_PTR)
				continue;
			const char *id = rpc_id(g, v->type.fn);
			emit(g, "\t\to->%s = (mask & %lluull) ? tramp_%s[sh->slot] : NULL;\n", v->cname, 1ull << bit++, id);
		}
		emit(g, "\t}\n");
	}
	emit(g, "}\n\n");
}

static void emit_free(struct gen *g, const struct idl_proj *p)
{
	emit(g, "static void free_%s(struct lxd_glue *g, struct lxd_glue_shadow *sh)\n{\n", p->cname);
	emit(g, "\t(void)g;\n\tstruct %s *o = sh->obj;\n", p->ctag);
	for (const struct idl_var *v = p->fields; v; v = v->next)
		if (v->type.kind == IDL_TY_STRING || v->type.kind == IDL_TY_ARRAY)
			emit(g, "\tfree((void *)o->%s);\n", v->cname);
	if (p->has_rpc_ptrs)
		emit(g, "\tif (sh->slot >= 0)\n\t\tslots_%s[sh->slot].used = false;\n", p->cname);
	emit(g, "\tfree(o);\n}\n\n");
}

/* ---- stubs and trampolines (the calling side) ------------------------------------------------------- */

static const char *proj_writable(struct gen *g, const struct idl_var *v)
{
	return idl_fmt(g->cx, "(struct %s *)%s", v->type.proj->ctag, pn(g, v));
}

/* "return <failure>;" for @r's return type, the error being @err. */
static void emit_fail_return(struct gen *g, const struct idl_rpc *r, const char *err)
{
	const char *rt = type_s(g, &r->ret);
	if (!returns_value(r))
		emit(g, "\t\treturn;\n");
	else if (r->ret.kind == IDL_TY_PROJ || r->ret.ptr)
		emit(g, "\t\treturn NULL;\n");
	else
		emit(g, "\t\treturn LXD_GLUE_FAIL(%s, %s);\n", rt, err);
}

/*
 * The body of a call: marshal the parameters, call, unmarshal the reply.
 * @glue is the expression giving the glue; @tref, for rpc_ptrs, the
 * expression giving the remote ops table reference.
 */
/* Marshal @r's parameters into a writer "req" over g, and its reply bound into "reply_bound". */
static void emit_request(struct gen *g, const struct idl_rpc *r, const char *tref)
{
	const char *id = rpc_id(g, r);
	emit(g, "\tlxd_glue_writer(&req, g->arena);\n");
	if (r->is_ptr)
		emit(g, "\tlxd_glue_put(&req, %s);\n", tref);
	for (const struct idl_var *v = r->params; v; v = v->next) {
		const char *n = pn(g, v);
		switch (v->type.kind) {
		case IDL_TY_SCALAR:
			if (v == r->ret_priv) /* the private area stays here */
				emit(g, "\tlxd_glue_put(&req, 0);\n");
			else
				emit(g, "\tlxd_glue_put(&req, (uint64_t)%s);\n", n);
			break;
		case IDL_TY_STRING:
			emit(g, "\tlxd_glue_put_string(&req, %s, %llu);\n", n, (unsigned long long)v->attrs.string_max);
			break;
		case IDL_TY_ARRAY:
			if (v->attrs.dir & IDL_DIR_IN)
				emit(g, "\tlxd_glue_put_array(&req, %s, (uint64_t)%s, sizeof(*%s));\n", n,
				     pn(g, v->count_var), n);
			break;
		case IDL_TY_ARENA:
			emit(g, "\tlxd_glue_put_arena(g, &req, %s, (uint64_t)%s);\n", n, pn(g, v->arena_var));
			break;
		case IDL_TY_PROJ:
			emit(g, "\tlxd_glue_put_ref(g, &req, %s, T_%s, %s);\n", n, v->type.proj->cname,
			     owner_s(sender_owns(&v->attrs, true)));
			if (v->attrs.dir & IDL_DIR_IN)
				emit(g, "\tif (%s)\n\t\tput_%s(g, &req, %s, %uu);\n", n, v->type.proj->cname, n, IDL_DIR_IN);
			break;
		default:
			break;
		}
	}
	/* The reply bound: static words plus [out] arrays sized by their counts. */
	emit(g, "\tuint32_t reply_bound = (uint32_t)(REP_WORDS_%s", id);
	for (const struct idl_var *v = r->params; v; v = v->next)
		if (v->type.kind == IDL_TY_ARRAY && (v->attrs.dir & IDL_DIR_OUT))
			emit(g, " + 1 + ((uint64_t)%s * sizeof(*%s) + 7) / 8", pn(g, v->count_var), pn(g, v));
	emit(g, ");\n");
}

static void emit_call_body(struct gen *g, const struct idl_rpc *r, const char *glue, const char *tref)
{
	const char *id = rpc_id(g, r), *rt = type_s(g, &r->ret);
	bool has_ret = returns_value(r);
	emit(g, "\tstruct lxd_glue *g = %s;\n", glue);
	emit(g, "\tstruct lxd_glue_buf req, rep;\n");
	if (has_ret)
		emit(g, "\t%sret = 0;\n", ret_s(g, r));
	emit(g, "\tif (!g) {\n");
	emit_fail_return(g, r, "-ENOTCONN");
	emit(g, "\t}\n");
	emit_request(g, r, tref);
	emit(g, "\tint err = lxd_glue_call(g, OP_%s, &req, SPILLED_%s, reply_bound, &rep);\n", id, id);
	emit(g, "\tif (!err) {\n");
	if (r->ret.kind == IDL_TY_PROJ) {
		const struct idl_proj *q = r->ret.proj;
		bool callee_owns = sender_owns(&r->ret_attrs, false);
		const char *priv = "0";
		if (r->ret_priv)
			priv = idl_fmt(g->cx, "(%s > 0 ? (size_t)%s : 0)", pn(g, r->ret_priv), pn(g, r->ret_priv));
		emit(g, "\t\tstruct lxd_glue_shadow *rs;\n");
		emit(g, "\t\tret = lxd_glue_get_ref(g, &rep, T_%s, %s, %s, sizeof(struct %s), %s, free_%s, &rs);\n",
		     q->cname, owner_s(!callee_owns),
		     r->ret_attrs.lifetime == IDL_LT_ALLOC ? "true" : "false", q->ctag,
		     priv, q->cname);
		emit(g, "\t\tif (ret)\n\t\t\tget_%s(g, &rep, ret, %uu, rs);\n", q->cname, IDL_DIR_OUT);
	} else if (has_ret) {
		emit(g, "\t\tret = (%s)lxd_glue_get(&rep);\n", rt);
	}
	for (const struct idl_var *v = r->params; v; v = v->next) {
		if (v->type.kind == IDL_TY_ARRAY && (v->attrs.dir & IDL_DIR_OUT)) {
			emit(g, "\t\tuint64_t n_%s = lxd_glue_get_count(&rep, (uint64_t)%s);\n", pn(g, v), pn(g, v->count_var));
			emit(g, "\t\tlxd_glue_get_bytes(&rep, (void *)%s, n_%s * sizeof(*%s));\n", pn(g, v), pn(g, v), pn(g, v));
		} else if (out_crosses(v)) {
			bool caller_owns = sender_owns(&v->attrs, true);
			emit(g, "\t\tif (lxd_glue_get(&rep)) {\n\t\t\tif (!%s)\n\t\t\t\trep.err = -EPROTO;\n\t\t\telse\n", pn(g, v));
			if (caller_owns)
				emit(g, "\t\t\t\tget_%s(g, &rep, %s, %uu, NULL);\n", v->type.proj->cname,
				     proj_writable(g, v), IDL_DIR_OUT);
			else
				emit(g, "\t\t\t\tget_%s(g, &rep, %s, %uu, lxd_glue_shadow_of(g, %s, T_%s));\n",
				     v->type.proj->cname, proj_writable(g, v), IDL_DIR_OUT, pn(g, v), v->type.proj->cname);
			emit(g, "\t\t}\n");
		}
	}
	emit(g, "\t\terr = rep.err;\n\t}\n");
	/* dealloc(caller): our shadow goes once the call is through. */
	for (const struct idl_var *v = r->params; v; v = v->next)
		if (v->type.kind == IDL_TY_PROJ && v->attrs.lifetime == IDL_LT_DEALLOC && v->attrs.lt_party == IDL_CALLER)
			emit(g, "\tif (!err && %s) {\n\t\tstruct lxd_glue_shadow *ds = lxd_glue_shadow_of(g, %s, T_%s);\n"
				"\t\tif (ds)\n\t\t\tlxd_glue_shadow_destroy(g, ds);\n\t}\n",
			     pn(g, v), pn(g, v), v->type.proj->cname);
	emit(g, "\tlxd_glue_call_done(g, &req, &rep);\n");
	emit(g, "\tif (err) {\n\t\tlxd_glue_failed(g, err);\n");
	emit_fail_return(g, r, "err");
	emit(g, "\t}\n");
	if (has_ret)
		emit(g, "\treturn ret;\n");
}

static void emit_rpc_defs(struct gen *g, const struct idl_rpc *r)
{
	const char *id = rpc_id(g, r);
	struct words req, rep;
	request_words(&req, r);
	reply_words(&rep, r);
	emit(g, "#define OP_%s %uu\n", id, r->op);
	emit(g, "#define REQ_WORDS_%s (%s)\n", id, req.expr);
	emit(g, "#define REP_WORDS_%s (%s)\n", id, rep.expr);
	if (req.variable || rep.variable)
		emit(g, "#define SPILLED_%s true /* strings or arrays: sizes known at run time */\n", id);
	else
		emit(g, "#define SPILLED_%s (REQ_WORDS_%s > LXD_MSG_WORDS || REP_WORDS_%s > LXD_MSG_WORDS)\n", id,
		     id, id);
}

/* Trampolines of rpc_ptr @r: one per instance slot of its ops table. */
static void emit_trampolines(struct gen *g, const struct idl_rpc *r)
{
	const char *id = rpc_id(g, r), *rt = ret_s(g, r), *ps = params_s(g, r, true), *as = args_s(g, r);
	const struct idl_proj *p = r->owner;
	const char *d = idl_fmt(g->cx, "%scall_%s(struct lxd_glue_slot *slot%s%s)", rt, id,
				r->params ? ", " : "", r->params ? ps : "");
	emit(g, "/* %s->%s() on an object of the other side: marshal, call, unmarshal. */\n", p->cname, r->cname);
	emit(g, "GLUE_FN %s\n{\n", d);
	emit_call_body(g, r, "slot->used ? slot->g : NULL", "slot->remote | LXD_GLUE_REF_YOURS");
	emit(g, "}\n\n");
	for (uint64_t i = 0; i < p->attrs.instances; i++) {
		emit(g, "GLUE_FN %stramp_%s_%llu(%s)\n{\n\t%scall_%s(&slots_%s[%llu]%s%s);\n}\n", rt, id,
		     (unsigned long long)i, ps, returns_value(r) ? "return " : "", id, p->cname,
		     (unsigned long long)i, r->params ? ", " : "", as);
	}
	emit(g, "static %s(*const tramp_%s[%llu])(%s) = {\n", rt, id, (unsigned long long)p->attrs.instances, ps);
	for (uint64_t i = 0; i < p->attrs.instances; i++)
		emit(g, "\ttramp_%s_%llu,\n", id, (unsigned long long)i);
	emit(g, "};\n\n");
}

/* The callee side of @r: unmarshal, call the real function, reply. */
static void emit_handler(struct gen *g, const struct idl_rpc *r)
{
	const char *id = rpc_id(g, r), *rt = ret_s(g, r), *as = args_s(g, r);
	bool has_ret = returns_value(r);
	emit(g, "GLUE_FN int h_%s(void *ctx, const uint64_t in[LXD_MSG_WORDS], uint64_t out[LXD_MSG_WORDS])\n{\n", id);
	emit(g, "\tstruct lxd_glue *g = ctx;\n\tstruct lxd_glue_buf rd, wr;\n");
	emit(g, "\tint err = lxd_glue_recv(g, in, SPILLED_%s, &rd);\n\tif (err)\n\t\treturn err;\n", id);
	emit(g, "\tlxd_glue_writer(&wr, NULL);\n");
	if (r->is_ptr) {
		const struct idl_proj *p = r->owner;
		emit(g, "\tstruct lxd_glue_shadow *tsh;\n");
		emit(g, "\tstruct %s *tbl = lxd_glue_get_ref(g, &rd, T_%s, LXD_GLUE_OWNER_US, false, 0, 0, NULL, &tsh);\n", p->ctag,
		     p->cname);
	}
	/* Locals, in parameter order. */
	for (const struct idl_var *v = r->params; v; v = v->next) {
		struct idl_type t = v->type;
		t.is_const = false;
		const char *d = decl_s(g, &t, pn(g, v));
		const char *n = pn(g, v);
		switch (v->type.kind) {
		case IDL_TY_SCALAR:
			emit(g, "\t%s = (%s)lxd_glue_get(&rd);\n", d, t.cname);
			break;
		case IDL_TY_STRING:
			emit(g, "\tbool null_%s;\n\t%s = lxd_glue_get_string(&rd, %llu, &null_%s);\n", n, d,
			     (unsigned long long)v->attrs.string_max, n);
			break;
		case IDL_TY_ARRAY:
			emit(g, "\t%s = NULL;\n", d);
			if (v->attrs.dir & IDL_DIR_IN)
				emit(g, "\tuint64_t n_%s = lxd_glue_get_count(&rd, %uu / sizeof(*%s));\n"
					"\tif (!rd.err && n_%s && !(%s = malloc(n_%s * sizeof(*%s))))\n\t\trd.err = -ENOMEM;\n"
					"\tlxd_glue_get_bytes(&rd, %s, n_%s * sizeof(*%s));\n",
				     n, 65536u, n, n, n, n, n, n, n, n);
			break;
		case IDL_TY_ARENA:
			emit(g, "\tuint64_t n_%s;\n\t%s = lxd_glue_get_arena(g, &rd, &n_%s);\n", n, d, n);
			break;
		case IDL_TY_PROJ: {
			const struct idl_proj *q = v->type.proj;
			emit(g, "\tstruct lxd_glue_shadow *sh_%s;\n", n);
			emit(g, "\t%s = lxd_glue_get_ref(g, &rd, T_%s, %s, %s, sizeof(struct %s), 0, free_%s, &sh_%s);\n", d,
			     q->cname, owner_s(!sender_owns(&v->attrs, true)),
			     v->attrs.lifetime == IDL_LT_ALLOC ? "true" : "false", q->ctag, q->cname, n);
			if (v->attrs.dir & IDL_DIR_IN)
				emit(g, "\tif (%s)\n\t\tget_%s(g, &rd, %s, %uu, sh_%s);\n", n, q->cname, n, IDL_DIR_IN, n);
			break;
		}
		default:
			break;
		}
	}
	/* Checks on our copies, and [out]-only arrays sized by their counts. */
	for (const struct idl_var *v = r->params; v; v = v->next) {
		const char *n = pn(g, v);
		if (v->type.kind == IDL_TY_ARRAY && (v->attrs.dir & IDL_DIR_IN))
			emit(g, "\tif (!rd.err && (uint64_t)%s != n_%s)\n\t\trd.err = -EPROTO;\n", pn(g, v->count_var), n);
		if (v->type.kind == IDL_TY_ARRAY && !(v->attrs.dir & IDL_DIR_IN)) {
			emit(g, "\tif (!rd.err && (uint64_t)%s > %uu / sizeof(*%s))\n\t\trd.err = -EMSGSIZE;\n",
			     pn(g, v->count_var), 65536u, n);
			emit(g, "\tif (!rd.err && !(%s = calloc((size_t)%s + 1, sizeof(*%s))))\n\t\trd.err = -ENOMEM;\n", n,
			     pn(g, v->count_var), n);
		}
		if (v->type.kind == IDL_TY_ARENA)
			emit(g, "\tif (!rd.err && %s && (uint64_t)%s > n_%s)\n\t\trd.err = -EPROTO;\n", n,
			     pn(g, v->arena_var), n);
	}
	emit(g, "\terr = rd.err;\n");
	if (r->is_ptr)
		emit(g, "\tif (!err && (!tbl || !tbl->%s))\n\t\terr = -ENOSYS;\n", r->cname);
	emit(g, "\tif (!err) {\n");
	const char *callee = r->is_ptr ? idl_fmt(g->cx, "tbl->%s", r->cname) : r->cname;
	/* A nested call may destroy a shadow we hold (a dealloc from inside the
	 * call): remember the references, and look again afterwards. */
	for (const struct idl_var *v = r->params; v; v = v->next)
		if (v->type.kind == IDL_TY_PROJ && sender_owns(&v->attrs, true))
			emit(g, "\t\tlxd_ref_t ref_%s = sh_%s ? sh_%s->remote : 0;\n", pn(g, v), pn(g, v), pn(g, v));
	if (has_ret)
		emit(g, "\t\t%sret = %s(%s);\n", rt, callee, as);
	else
		emit(g, "\t\t%s(%s);\n", callee, as);
	for (const struct idl_var *v = r->params; v; v = v->next)
		if (v->type.kind == IDL_TY_PROJ && sender_owns(&v->attrs, true))
			emit(g, "\t\tif (sh_%s && !lxd_glue_shadow_find(g, ref_%s, T_%s)) {\n\t\t\t%s = NULL;\n\t\t\tsh_%s = NULL;\n\t\t}\n",
			     pn(g, v), pn(g, v), v->type.proj->cname, pn(g, v), pn(g, v));
	if (r->ret.kind == IDL_TY_PROJ) {
		emit(g, "\t\tlxd_glue_put_ref(g, &wr, ret, T_%s, %s);\n", r->ret.proj->cname,
		     owner_s(sender_owns(&r->ret_attrs, false)));
		emit(g, "\t\tif (ret)\n\t\t\tput_%s(g, &wr, ret, %uu);\n", r->ret.proj->cname, IDL_DIR_OUT);
	} else if (has_ret) {
		emit(g, "\t\tlxd_glue_put(&wr, (uint64_t)ret);\n");
	}
	for (const struct idl_var *v = r->params; v; v = v->next) {
		const char *n = pn(g, v);
		if (v->type.kind == IDL_TY_ARRAY && (v->attrs.dir & IDL_DIR_OUT))
			emit(g, "\t\tlxd_glue_put_array(&wr, %s, (uint64_t)%s, sizeof(*%s));\n", n, pn(g, v->count_var), n);
		else if (out_crosses(v))
			emit(g, "\t\tlxd_glue_put(&wr, %s ? 1 : 0);\n\t\tif (%s)\n\t\t\tput_%s(g, &wr, %s, %uu);\n", n, n,
			     v->type.proj->cname, n, IDL_DIR_OUT);
	}
	/* dealloc: the callee's shadow goes, or the callee's object went (its reference is revoked). */
	for (const struct idl_var *v = r->params; v; v = v->next) {
		if (v->type.kind != IDL_TY_PROJ || v->attrs.lifetime != IDL_LT_DEALLOC)
			continue;
		if (v->attrs.lt_party == IDL_CALLEE)
			emit(g, "\t\tif (sh_%s)\n\t\t\tlxd_glue_shadow_destroy(g, sh_%s);\n", pn(g, v), pn(g, v));
		else
			emit(g, "\t\tif (%s)\n\t\t\tlxd_glue_unexport(g, %s, T_%s);\n", pn(g, v), pn(g, v),
			     v->type.proj->cname);
	}
	emit(g, "\t\terr = lxd_glue_reply(g, &rd, SPILLED_%s, &wr, out);\n\t}\n", id);
	for (const struct idl_var *v = r->params; v; v = v->next)
		if (v->type.kind == IDL_TY_STRING || v->type.kind == IDL_TY_ARRAY)
			emit(g, "\tfree(%s);\n", pn(g, v));
	emit(g, "\tlxd_glue_buf_fini(&wr);\n\tif (err)\n\t\tg->st.refused++;\n\treturn err;\n}\n\n");
}

/*
 * A [callback] rpc's two more caller functions (check.c allows scalars,
 * strings, arrays and arena buffers only): NAME_cb() sends the request and
 * returns (lxd_glue_call_cb), NAME_reply() decodes the answer inside the
 * callback.  Both take the rpc's parameters, so a caller passes the same
 * list to each; what a function does not need it ignores.
 */
static void emit_callback_stubs(struct gen *g, const struct idl_rpc *r)
{
	const char *id = rpc_id(g, r), *rt = type_s(g, &r->ret);
	bool has_ret = returns_value(r);
	const char *ps = r->params ? idl_fmt(g->cx, "%s, ", params_s(g, r, true)) : "";
	emit(g, "/* [callback] %s(): send it, the reply to go to @done (lxd_glue_call_cb); 0, -EAGAIN or -errno. */\n",
	     r->cname);
	emit(g, "int %s_cb(%sstruct lxd_glue_pending *pc, lxd_glue_done_fn done, void *arg)\n{\n", r->cname, ps);
	emit(g, "\tstruct lxd_glue *g = glue_self;\n\tstruct lxd_glue_buf req;\n");
	emit(g, "\tif (!g)\n\t\treturn -ENOTCONN;\n");
	emit_request(g, r, NULL);
	emit(g, "\tint err = lxd_glue_call_cb(g, OP_%s, &req, SPILLED_%s, reply_bound, pc, done, arg);\n", id, id);
	emit(g, "\tlxd_glue_buf_fini(&req);\n\treturn err;\n}\n\n");

	emit(g, "/* [callback] %s()'s reply, in the callback: the return value%s and the [out] arrays.  0 or -EPROTO. */\n",
	     r->cname, has_ret ? " in *ret" : "");
	emit(g, "int %s_reply(struct lxd_glue_buf *rep%s%s%s)\n{\n", r->cname,
	     has_ret ? idl_fmt(g->cx, ", %s*ret", ret_s(g, r)) : "", r->params ? ", " : "",
	     r->params ? params_s(g, r, true) : "");
	for (const struct idl_var *v = r->params; v; v = v->next) {
		bool used = v->type.kind == IDL_TY_ARRAY && (v->attrs.dir & IDL_DIR_OUT);
		for (const struct idl_var *w = r->params; w && !used; w = w->next)
			used = w->type.kind == IDL_TY_ARRAY && (w->attrs.dir & IDL_DIR_OUT) && w->count_var == v;
		if (!used)
			emit(g, "\t(void)%s;\n", pn(g, v));
	}
	if (has_ret)
		emit(g, "\t*ret = (%s)lxd_glue_get(rep);\n", rt);
	for (const struct idl_var *v = r->params; v; v = v->next)
		if (v->type.kind == IDL_TY_ARRAY && (v->attrs.dir & IDL_DIR_OUT)) {
			emit(g, "\tuint64_t n_%s = lxd_glue_get_count(rep, (uint64_t)%s);\n", pn(g, v), pn(g, v->count_var));
			emit(g, "\tlxd_glue_get_bytes(rep, (void *)%s, n_%s * sizeof(*%s));\n", pn(g, v), pn(g, v), pn(g, v));
		}
	emit(g, "\treturn rep->err;\n}\n\n");
}

static void emit_stub(struct gen *g, const struct idl_rpc *r)
{
	emit(g, "/* The caller stub: exactly the prototype of the real %s(). */\n", r->cname);
	emit(g, "%s%s(%s)\n{\n", ret_s(g, r), r->cname, params_s(g, r, true));
	emit_call_body(g, r, "glue_self", NULL);
	emit(g, "}\n\n");
	if (r->callback)
		emit_callback_stubs(g, r);
}

static bool serves(const struct gen *g, const struct idl_rpc *r)
{
	return r->is_ptr || r->mod->exporter == g->side;
}

int idl_gen(FILE *out, const struct idl_file *f, enum idl_side side, const char *idl_name)
{
	struct idl_ctx cx;
	idl_ctx_init(&cx, idl_name, "", 0, NULL);
	struct gen gg = { .o = out, .f = f, .side = side, .file = idl_name, .cx = &cx }, *g = &gg;
	if (side != IDL_KERNEL && side != IDL_DOMAIN)
		return -EINVAL;
	/* The base name as a C identifier, for the exported interface symbol. */
	const char *b = strrchr(idl_name, '/');
	b = b ? b + 1 : idl_name;
	size_t k = 0;
	for (; *b && *b != '.' && k + 1 < sizeof(g->base); b++)
		g->base[k++] = (char)((*b >= 'a' && *b <= 'z') || (*b >= 'A' && *b <= 'Z') || (*b >= '0' && *b <= '9') ? *b : '_');
	g->base[k] = 0;
	if (!k)
		snprintf(g->base, sizeof(g->base), "idl");

	emit(g, "/* Generated by lxds-idlc from %s: the %s side's glue.  Do not edit. */\n", idl_name,
	     idl_side_name(side));
	emit(g, "#include <errno.h>\n#include <stdbool.h>\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n\n");
	for (const struct idl_module *m = f->modules; m; m = m->next)
		for (const struct idl_include *i = m->includes; i; i = i->next)
			emit(g, "#include \"%s\"\n", i->path);
	emit(g, "#include \"lxds/glue.h\"\n\n");
	emit(g, "#define GLUE_FN static __attribute__((unused))\n\n");
	emit_checks(g);
	emit(g, "/* The glue the caller stubs use (lxd_glue_attach()): per thread, so each\n"
		" * thread that owns a runtime (a domain's dispatcher) calls through its own. */\n"
		"static _Thread_local struct lxd_glue *glue_self;\n"
		"static struct lxd_glue **glue_self_get(void) { return &glue_self; }\n\n");

	uint32_t nops = 0;
	emit(g, "/* ---- rpc numbers and sizes (words; > %d spills into the arena) ---- */\n\n", 7);
	for (const struct idl_module *m = f->modules; m; m = m->next) {
		for (const struct idl_rpc *r = m->rpcs; r; r = r->next, nops++)
			emit_rpc_defs(g, r);
		for (const struct idl_proj *p = m->projs; p; p = p->next)
			for (const struct idl_var *v = p->fields; v; v = v->next)
				if (v->type.kind == IDL_TY_RPC_PTR) {
					emit_rpc_defs(g, v->type.fn);
					nops++;
				}
	}
	emit(g, "\n");
	emit_proj_decls(g);

	emit(g, "/* ---- trampolines: function-pointer fields of the other side's objects ---- */\n\n");
	for (const struct idl_module *m = f->modules; m; m = m->next)
		for (const struct idl_proj *p = m->projs; p; p = p->next)
			for (const struct idl_var *v = p->fields; v; v = v->next)
				if (v->type.kind == IDL_TY_RPC_PTR)
					emit_trampolines(g, v->type.fn);

	for (const struct idl_module *m = f->modules; m; m = m->next)
		for (const struct idl_proj *p = m->projs; p; p = p->next) {
			emit_put(g, p);
			emit_get(g, p);
			emit_free(g, p);
		}

	emit(g, "/* ---- caller stubs: rpcs the %s side exports ---- */\n\n",
	     idl_side_name(side == IDL_KERNEL ? IDL_DOMAIN : IDL_KERNEL));
	for (const struct idl_module *m = f->modules; m; m = m->next)
		if (m->exporter != side)
			for (const struct idl_rpc *r = m->rpcs; r; r = r->next)
				emit_stub(g, r);

	emit(g, "/* ---- handlers: rpcs this side serves ---- */\n\n");
	unsigned served = 0;
	for (const struct idl_module *m = f->modules; m; m = m->next) {
		for (const struct idl_rpc *r = m->rpcs; r; r = r->next)
			if (serves(g, r)) {
				emit_handler(g, r);
				served++;
			}
		for (const struct idl_proj *p = m->projs; p; p = p->next)
			for (const struct idl_var *v = p->fields; v; v = v->next)
				if (v->type.kind == IDL_TY_RPC_PTR) {
					emit_handler(g, v->type.fn);
					served++;
				}
	}
	if (served) {
		emit(g, "static const lxd_rpc_fn handlers[%u] = {\n", nops);
		for (const struct idl_module *m = f->modules; m; m = m->next) {
			for (const struct idl_rpc *r = m->rpcs; r; r = r->next)
				if (serves(g, r))
					emit(g, "\t[OP_%s] = h_%s,\n", r->cname, r->cname);
			for (const struct idl_proj *p = m->projs; p; p = p->next)
				for (const struct idl_var *v = p->fields; v; v = v->next)
					if (v->type.kind == IDL_TY_RPC_PTR) {
						const char *id = rpc_id(g, v->type.fn);
						emit(g, "\t[OP_%s] = h_%s,\n", id, id);
					}
		}
		emit(g, "};\n\n");
	}
	emit(g, "const struct lxd_glue_iface lxd_glue_iface_%s_%s;\n", g->base, idl_side_name(side));
	emit(g, "const struct lxd_glue_iface lxd_glue_iface_%s_%s = {\n", g->base, idl_side_name(side));
	emit(g, "\t.name = \"%s\",\n\t.side = \"%s\",\n\t.handlers = %s,\n\t.nhandlers = %u,\n\t.self_tls = glue_self_get,\n};\n",
	     g->base, idl_side_name(side), served ? "handlers" : "NULL", served ? nops : 0);
	idl_ctx_free(&cx);
	return ferror(out) ? -EIO : 0;
}
