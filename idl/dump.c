/* SPDX-License-Identifier: MIT */
/*
 * A canonical text form of the checked AST (lxds-idlc --dump): one line per
 * declaration, every default made explicit.  The golden tests of the front
 * end compare it, so what the checker decided is visible and reviewable.
 */
#include "idl.h"

static const char *lt_name(enum idl_lifetime lt)
{
	return lt == IDL_LT_ALLOC ? "alloc" : lt == IDL_LT_DEALLOC ? "dealloc" : lt == IDL_LT_BIND ? "bind" : "";
}

static const char *kind_name(enum idl_type_kind k)
{
	static const char *const n[] = { "void", "scalar", "projection", "string", "array", "arena",
					 "fixed", "rpc_ptr" };
	return n[k];
}

static void dump_attrs(FILE *o, const struct idl_attrs *a)
{
	fputs(" [", o);
	const char *sep = "";
	if (a->dir & IDL_DIR_IN) {
		fputs("in", o);
		sep = ",";
	}
	if (a->dir & IDL_DIR_OUT) {
		fprintf(o, "%sout", sep);
		sep = ",";
	}
	if (a->lifetime) {
		fprintf(o, "%s%s(%s)", sep, lt_name(a->lifetime), idl_party_name(a->lt_party));
		sep = ",";
	}
	if (a->string_max) {
		fprintf(o, "%sstring(%llu)", sep, (unsigned long long)a->string_max);
		sep = ",";
	}
	if (a->count) {
		fprintf(o, "%scount(%.*s)", sep, (int)a->count->len, a->count->text);
		sep = ",";
	}
	if (a->arena) {
		fprintf(o, "%sarena(%.*s)", sep, (int)a->arena->len, a->arena->text);
		sep = ",";
	}
	if (a->priv)
		fprintf(o, "%sprivate(%.*s)", sep, (int)a->priv->len, a->priv->text);
	fputc(']', o);
}

static void dump_type(FILE *o, const struct idl_type *t)
{
	fprintf(o, " %s", kind_name(t->kind));
	if (t->kind == IDL_TY_PROJ)
		fprintf(o, " %s", t->proj ? t->proj->cname : "?");
	else if (t->cname)
		fprintf(o, " '%s%s%s'", t->is_const ? "const " : "", t->cname, t->ptr ? " *" : "");
	if (t->kind == IDL_TY_FIXED)
		fprintf(o, "[%llu]", (unsigned long long)t->fixed_len);
}

static void dump_rpc(FILE *o, const struct idl_rpc *r, const char *indent);

static void dump_var(FILE *o, const struct idl_var *v, const char *what, const char *indent)
{
	if (v->type.kind == IDL_TY_RPC_PTR) {
		dump_rpc(o, v->type.fn, indent);
		return;
	}
	fprintf(o, "%s%s %s", indent, what, v->cname);
	dump_attrs(o, &v->attrs);
	dump_type(o, &v->type);
	if (v->is_length)
		fputs(" (a length)", o);
	fputc('\n', o);
}

static void dump_rpc(FILE *o, const struct idl_rpc *r, const char *indent)
{
	fprintf(o, "%s%s %s op=%u%s returns", indent, r->is_ptr ? "rpc_ptr" : "rpc", r->cname, r->op,
		r->callback ? " callback" : "");
	if (r->ret.kind != IDL_TY_VOID || r->ret.ptr)
		dump_attrs(o, &r->ret_attrs);
	dump_type(o, &r->ret);
	fputc('\n', o);
	for (const struct idl_var *v = r->params; v; v = v->next)
		dump_var(o, v, "param", r->is_ptr ? "      " : "    ");
}

void idl_dump(FILE *o, const struct idl_file *f)
{
	for (const struct idl_module *m = f->modules; m; m = m->next) {
		fprintf(o, "module %s export(%s)\n", m->cname, idl_side_name(m->exporter));
		for (const struct idl_include *i = m->includes; i; i = i->next)
			fprintf(o, "  include \"%s\"\n", i->path);
		for (const struct idl_proj *p = m->projs; p; p = p->next) {
			fprintf(o, "  projection %s <struct %s> type=%u instances(%llu)\n", p->cname, p->ctag,
				p->id, (unsigned long long)p->attrs.instances);
			for (const struct idl_var *v = p->fields; v; v = v->next)
				dump_var(o, v, "field", "    ");
		}
		for (const struct idl_rpc *r = m->rpcs; r; r = r->next)
			dump_rpc(o, r, "  ");
	}
}
