/* SPDX-License-Identifier: MIT */
/*
 * lxds net / lxds blk: load a driver (native or isolated) into an in-process
 * kernel and push packets or block I/O through it, so a newcomer can see a
 * driver work both ways.  The kernel is this very process (the lxds binary
 * links the kernel and exports its symbols for the driver).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/blk-mq.h>
#include <linux/netdevice.h>

#include "bench.h"
#include "bench_drv.h"
#include "cmd.h"
#include "lxds/kernel.h"
#include "lxds/util.h"

#define MAX_PARAMS 16

struct drv_opts {
	const char *driver;
	enum lxd_module_mode mode;
	const char *params[MAX_PARAMS];
	size_t nparams;
	bool json;
};

/*
 * Parse an option shared by both commands at argv[*i].  Returns 1 if it was
 * one (consumed, *i advanced past its value), 0 if not ours, -1 on error.
 */
static int common_opt(int argc, char **argv, int *i, struct drv_opts *o)
{
	const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	if (!strcmp(a, "--json")) {
		o->json = true;
		return 1;
	}
	if (strcmp(a, "--driver") && strcmp(a, "--mode") && strcmp(a, "--param"))
		return 0;
	if (!v) {
		fprintf(stderr, "lxds: option %s needs a value\n", a);
		return -1;
	}
	(*i)++;
	if (!strcmp(a, "--driver")) {
		o->driver = v;
	} else if (!strcmp(a, "--mode")) {
		if (lxd_module_mode_parse(v, &o->mode)) {
			fprintf(stderr, "lxds: --mode must be native or isolated, not '%s'\n", v);
			return -1;
		}
	} else {
		if (o->nparams == MAX_PARAMS || !strchr(v, '=')) {
			fprintf(stderr, "lxds: --param takes name=value (at most %d)\n", MAX_PARAMS);
			return -1;
		}
		o->params[o->nparams++] = v;
	}
	return 1;
}

static int load_driver(const char *cmd, const struct drv_opts *o, struct lxd_module **m)
{
	return lxd_tool_load_driver(cmd, o->driver, o->params, o->nparams, o->mode, m);
}

static const char *mode_name(enum lxd_module_mode m) { return m == LXD_MODULE_NATIVE ? "native" : "isolated"; }

int lxd_cmd_net(int argc, char **argv)
{
	struct drv_opts o = {.driver = "dummy"};
	unsigned long packets = 1000000, size = 64;
	enum lxd_xmit_mode xmit = LXD_XMIT_ASYNC;
	for (int i = 1; i < argc; i++) {
		if (lxd_is_help(argv[i])) {
			printf("usage: lxds net [--driver dummy] [--mode native|isolated] [--packets N] [--size S]\n"
			       "                [--xmit sync|async|batch] [--param name=value]... [--json]\n\n"
			       "Load a net driver, open its first device and send N packets of S bytes\n"
			       "(Ethernet frames, 14..1514) through dev_queue_xmit; print the device's\n"
			       "statistics, then unload.  Defaults: dummy, native, 1000000 x 64.\n"
			       "--xmit (isolated): how transmits reach the domain: one at a time (sync), many\n"
			       "in flight (async, the default), or several per message (batch).\n");
			return 0;
		}
		int r = common_opt(argc, argv, &i, &o);
		if (r < 0)
			return 2;
		if (r)
			continue;
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--packets")) {
			if (!lxd_parse_uint("--packets", v, 1ul << 40, &packets))
				return 2;
		} else if (!strcmp(argv[i], "--size")) {
			if (!lxd_parse_uint("--size", v, 65535, &size))
				return 2;
		} else if (!strcmp(argv[i], "--xmit")) {
			if (lxd_xmit_mode_parse(v, &xmit)) {
				fprintf(stderr, "lxds net: --xmit must be sync, async or batch\n");
				return 2;
			}
		} else {
			fprintf(stderr, "lxds net: unknown option '%s' (try --help)\n", argv[i]);
			return 2;
		}
		i++;
	}
	struct lxd_module *m;
	if (load_driver("net", &o, &m))
		return 1;
	int rc = 1;
	struct net_device *dev = lxd_module_netdev(m, 0);
	if (!dev) {
		fprintf(stderr, "lxds net: %s registered no net device\n", o.driver);
		goto out;
	}
	int err = dev_open(dev);
	if (err) {
		fprintf(stderr, "lxds net: cannot open %s: %s\n", dev->name, strerror(-err));
		goto out;
	}
	if (o.mode == LXD_MODULE_ISOLATED)
		lxd_module_set_xmit_mode(m, xmit);
	struct lxd_pktgen_result r;
	uint64_t t0 = lxd_now_ns();
	err = lxd_pktgen(dev, packets, (unsigned)size, &r);
	if (err) {
		fprintf(stderr, "lxds net: %s (size must be %d..%u)\n", strerror(-err), ETH_HLEN, dev->mtu + ETH_HLEN);
		goto out;
	}
	/* Async and batched transmits may still be on their way: the clock stops when the driver has them all. */
	lxd_module_flush(m);
	r.ns = lxd_now_ns() - t0;
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	double mpps = r.ns ? (double)r.sent * 1e3 / (double)r.ns : 0;
	if (o.json) {
		json_begin(stdout);
		json_str(stdout, "driver", o.driver);
		json_str(stdout, "mode", mode_name(o.mode));
		json_str(stdout, "device", dev->name);
		json_num(stdout, "packets", (double)packets);
		json_num(stdout, "size", (double)size);
		json_num(stdout, "sent", (double)r.sent);
		json_num(stdout, "dropped", (double)r.dropped);
		json_num(stdout, "errors", (double)r.errors);
		json_num(stdout, "tx_packets", (double)st.tx_packets);
		json_num(stdout, "tx_bytes", (double)st.tx_bytes);
		json_num(stdout, "mpps", mpps);
		json_end(stdout);
	} else {
		printf("%s (%s, %s) mac %02x:%02x:%02x:%02x:%02x:%02x carrier %s\n", dev->name, o.driver,
		       mode_name(o.mode), dev->dev_addr[0], dev->dev_addr[1], dev->dev_addr[2], dev->dev_addr[3],
		       dev->dev_addr[4], dev->dev_addr[5], netif_carrier_ok(dev) ? "on" : "off");
		printf("sent %llu packets of %lu bytes: %llu accepted, %llu dropped, %llu errors in %.3f s (%.2f Mpps)\n",
		       (unsigned long long)packets, size, (unsigned long long)r.sent, (unsigned long long)r.dropped,
		       (unsigned long long)r.errors, (double)r.ns / 1e9, mpps);
		printf("stats: tx_packets %llu tx_bytes %llu tx_dropped %llu\n", (unsigned long long)st.tx_packets,
		       (unsigned long long)st.tx_bytes, (unsigned long long)st.tx_dropped);
		struct lxd_iso_stats is;
		if (lxd_module_iso_stats(m, &is) == 0)
			printf("crossing: %llu transmit messages for %llu skbs (%.1f per message)\n",
			       (unsigned long long)is.xmit_msgs, (unsigned long long)is.xmit_skbs,
			       is.xmit_msgs ? (double)is.xmit_skbs / (double)is.xmit_msgs : 0.0);
	}
	rc = r.errors ? 1 : 0;
out:
	lxd_module_unload(m);
	return rc;
}

int lxd_cmd_blk(int argc, char **argv)
{
	struct drv_opts o = {.driver = "null_blk"};
	unsigned long ios = 100000, qd = 32, bs = 0;
	enum lxd_iogen_rw rw = LXD_IOGEN_RANDREAD;
	for (int i = 1; i < argc; i++) {
		if (lxd_is_help(argv[i])) {
			printf("usage: lxds blk [--driver null_blk] [--mode native|isolated] [--ios N] [--qd Q]\n"
			       "                [--bs B] [--rw randread|randwrite|verify]\n"
			       "                [--param name=value]... [--json]\n\n"
			       "Load a block driver and run N random I/Os of B bytes (default: the\n"
			       "logical block size) with Q in flight on its first disk, then unload.\n"
			       "verify writes N distinct blocks then reads them back and compares\n"
			       "(it sets memory_backed=1 unless a --param says otherwise).\n"
			       "null_blk parameters: submit_queues, hw_queue_depth, bs, gb, size (MiB),\n"
			       "irqmode (0 inline, 1 softirq, 2 timer), completion_nsec, memory_backed.\n");
			return 0;
		}
		int r = common_opt(argc, argv, &i, &o);
		if (r < 0)
			return 2;
		if (r)
			continue;
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--ios")) {
			if (!lxd_parse_uint("--ios", v, 1ul << 40, &ios))
				return 2;
		} else if (!strcmp(argv[i], "--qd")) {
			if (!lxd_parse_uint("--qd", v, 1024, &qd) || qd == 0) {
				fprintf(stderr, "lxds blk: --qd must be 1..1024\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--bs")) {
			if (!lxd_parse_uint("--bs", v, LXD_BLK_MAX_IO, &bs))
				return 2;
		} else if (!strcmp(argv[i], "--rw")) {
			if (lxd_iogen_rw_parse(v, &rw)) {
				fprintf(stderr, "lxds blk: --rw must be randread, randwrite or verify\n");
				return 2;
			}
		} else {
			fprintf(stderr, "lxds blk: unknown option '%s' (try --help)\n", argv[i]);
			return 2;
		}
		i++;
	}
	if (rw == LXD_IOGEN_VERIFY) {
		bool given = false;
		for (size_t k = 0; k < o.nparams; k++)
			given |= !strncmp(o.params[k], "memory_backed=", 14);
		if (!given && o.nparams < MAX_PARAMS)
			o.params[o.nparams++] = "memory_backed=1";
		if (!given && o.nparams < MAX_PARAMS)
			o.params[o.nparams++] = "size=1024"; /* verify needs distinct blocks: a 1 GiB RAM disk */
	}
	struct lxd_module *m;
	if (load_driver("blk", &o, &m))
		return 1;
	int rc = 1;
	struct gendisk *disk = lxd_module_disk(m, 0);
	if (!disk) {
		fprintf(stderr, "lxds blk: %s added no disk\n", o.driver);
		goto out;
	}
	struct lxd_iogen_opts io = {.rw = rw, .ios = ios, .qd = (unsigned)qd, .bs = (unsigned)bs, .seed = 1};
	struct lxd_iogen_result r;
	int err = lxd_iogen(disk, &io, &r);
	if (err) {
		fprintf(stderr, "lxds blk: %s (bs must be a multiple of %u; verify needs --ios <= blocks on the disk)\n",
			strerror(-err), queue_logical_block_size(disk->queue));
		goto out;
	}
	static const char *const rwname[] = {"randread", "randwrite", "verify"};
	double kiops = r.ns ? (double)r.done * 1e6 / (double)r.ns : 0;
	if (o.json) {
		json_begin(stdout);
		json_str(stdout, "driver", o.driver);
		json_str(stdout, "mode", mode_name(o.mode));
		json_str(stdout, "disk", disk->disk_name);
		json_str(stdout, "rw", rwname[rw]);
		json_num(stdout, "ios", (double)r.done);
		json_num(stdout, "errors", (double)r.errors);
		json_num(stdout, "mismatches", (double)r.mismatches);
		json_num(stdout, "kiops", kiops);
		json_end(stdout);
	} else {
		printf("%s (%s, %s): %llu sectors, %u-byte blocks\n", disk->disk_name, o.driver, mode_name(o.mode),
		       (unsigned long long)get_capacity(disk), queue_logical_block_size(disk->queue));
		printf("%s: %llu I/Os, qd %lu, %llu errors%s%s%s, %llu mismatches in %.3f s (%.1f kIOPS)\n", rwname[rw],
		       (unsigned long long)r.done, qd, (unsigned long long)r.errors,
		       r.errors ? " (first: " : "", r.errors ? strerror(-r.first_error) : "", r.errors ? ")" : "", (unsigned long long)r.mismatches,
		       (double)r.ns / 1e9, kiops);
	}
	rc = r.errors || r.mismatches ? 1 : 0;
out:
	lxd_module_unload(m);
	return rc;
}
