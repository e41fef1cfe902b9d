/* SPDX-License-Identifier: MIT */
/*
 * toy_driver: an unmodified "driver" for toydev.  It calls the kernel's
 * API and fills in an ops table, and cannot tell whether it runs natively
 * or isolated: isolated, every toy_*() call below lands in a generated
 * stub, and the kernel's calls through d->ops land here via trampolines.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lxds/module_abi.h"
#include "toydev.h"
#include "toy_driver.h"

struct toy_priv {
	unsigned magic;
	int opens;
	unsigned char mac[6];
	int stops;
};

struct toy_driver_report toy_drv; /* what the driver saw, for the test */
static struct toy_dev *dev;
static unsigned int queue_sizes[3] = { 64, 128, 256 };
static struct toy_cfg cfg = { .label = "toy-config", .nq = 3, .queue_sizes = queue_sizes, .generation = 1 };

static int toy_open(struct toy_dev *d)
{
	struct toy_priv *p = toy_priv(d);
	p->opens++;
	d->state = 1; /* [in,out]: goes back to the kernel's object */
	toy_drv.opens = p->opens;
	return p->magic == TOY_PRIV_MAGIC ? 0 : -EBADMSG;
}

/* Loopback: whatever is sent comes straight back in, through the kernel. */
static long toy_xmit(struct toy_dev *d, void *buf, unsigned int len)
{
	int rc = toy_rx(d, buf, len);
	return rc < 0 ? rc : (long)len;
}

static int toy_queue(struct toy_dev *d, struct toy_req *rq)
{
	(void)d;
	const unsigned char *data = rq->data;
	int sum = 0;
	for (unsigned i = 0; i < rq->len; i++)
		sum += data[i];
	rq->result = sum;
	toy_drv.last_sector = rq->sector;
	/* Complete it at once: the kernel frees the request, our shadow goes. */
	toy_complete(rq, 0);
	return 0;
}

static int toy_set_mac(struct toy_dev *d, const unsigned char *mac, unsigned int n)
{
	struct toy_priv *p = toy_priv(d);
	if (n != sizeof(p->mac))
		return -EINVAL;
	memcpy(p->mac, mac, n);
	int s = 0;
	for (unsigned i = 0; i < n; i++)
		s += mac[i];
	return s;
}

static void toy_stop(struct toy_dev *d)
{
	struct toy_priv *p = toy_priv(d);
	p->stops++;
	cfg.generation = 2;
	cfg.label = "toy-config-2";
	toy_drv.update_result = toy_update_cfg(&cfg);
	toy_detach_cfg(&cfg);
	toy_unregister(d);
	toy_free_dev(d); /* the kernel frees it; our shadow goes */
	dev = NULL;
	toy_drv.dev = NULL;
	toy_drv.stopped = 1;
}

/* ioctl left NULL on purpose: the kernel's copy of the table must show it. */
static const struct toy_ops ops = {
	.open = toy_open,
	.xmit = toy_xmit,
	.queue = toy_queue,
	.set_mac = toy_set_mac,
	.stop = toy_stop,
};

static int toy_init(void)
{
	dev = toy_alloc_dev(sizeof(struct toy_priv));
	if (!dev)
		return -ENOMEM;
	struct toy_priv *p = toy_priv(dev);
	p->magic = TOY_PRIV_MAGIC;
	dev->features = 0xf00du;
	dev->secret = 7; /* not projected: the kernel must never see it */
	dev->ops = &ops;
	toy_drv.dev = dev;
	toy_drv.alloc_id = dev->id;
	memcpy(toy_drv.alloc_name, dev->name, sizeof(dev->name));
	int rc = toy_register(dev);
	if (rc)
		return rc;
	rc = toy_attach_cfg(dev, &cfg);
	if (rc)
		return rc;
	toy_drv.log_result = toy_log("hello from the driver");
	const int vals[5] = { 1, 2, 3, 4, 5 };
	toy_drv.sum = toy_sum(vals, 5);
	unsigned long long stats[4] = { 0 };
	toy_drv.nstats = toy_read_stats(4, stats);
	memcpy(toy_drv.stats, stats, sizeof(stats));
	/* A string longer than the IDL's bound must be refused, not cut. */
	char long_msg[100];
	memset(long_msg, 'x', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = 0;
	toy_drv.long_log_result = toy_log(long_msg);
	/* What the driver's copy of the device looks like, for a test that
	 * cannot look into this process. */
	char line[64];
	snprintf(line, sizeof(line), "copy: id=%u name=%s secret=%u magic=%x", dev->id, dev->name, dev->secret,
		 p->magic);
	toy_log(line);
	toy_log("init done");
	toy_drv.inited = 1;
	return 0;
}

static void toy_exit(void)
{
}

static const struct lxd_module_info info = {
	.abi = LXD_MODULE_ABI,
	.name = "toy_driver",
	.license = "MIT",
	.description = "toydev loopback driver for the IDL end-to-end test",
	.init = toy_init,
	.exit = toy_exit,
};

const struct lxd_module_info *lxd_module_info(void);
const struct lxd_module_info *lxd_module_info(void)
{
	return &info;
}
