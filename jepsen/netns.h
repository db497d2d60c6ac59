/*
 * The nodes' own network and disks (netns.c): what the partition, loss
 * and disk nemeses act on.
 *
 * Network. Node slot i (0-based) runs in namespace PREFIXn(i+1), joined
 * by a veth pair (PREFIXv(i+1) in the root namespace, PREFIXe(i+1) inside)
 * to bridge PREFIXbr, at SUBNET.(i+1)/24; the root namespace, where the
 * clients and this program stay, has SUBNET.254 on the bridge. PREFIX is
 * "wj" and the run's --port, SUBNET is 10.(port / 256).(port % 256), so
 * runs on other ports neither share a name nor an address. Faults are an
 * nftables table "inet walraft_jepsen" inside a node's namespace whose
 * input chain drops what the fault says; healing deletes it. Only peers'
 * addresses are ever blocked, never the clients' (SUBNET.254), so a
 * client can still reach a node cut off from the others: that is how a
 * stale read would show.
 *
 * Disks. With the disk nemesis, node ID's data directory (DIR/cluster/ID)
 * is a tmpfs of DISK_BYTES whose source is named PREFIXd(ID), so that
 * leftovers can be told from anything else mounted.
 *
 * Everything here needs root; each call says what failed on stderr and
 * in the run's command log. A run claims its prefix (net_claim), so that
 * two runs on one port cannot tear down each other's nodes, then sweeps
 * leftovers of an earlier run with the same prefix (its namespaces, with
 * any process still in them, links and mounts) before it makes its own.
 */
#ifndef WR_JEPSEN_NETNS_H
#define WR_JEPSEN_NETNS_H

#include "runner.h"

#define DISK_BYTES (256ULL << 20)

/* Set r->net_prefix and r->net_subnet from the port. */
void net_names(struct run *r);

/* Claim r's prefix for this process: flock() a file named after it in
 * /run/lock (or /tmp), released by net_teardown or when the process ends,
 * however it ends. Without the claim nothing here touches the prefix's
 * names, so that a second run on the same port cannot sweep away the
 * first one's nodes. Returns 0, or -1 with @why set (another run holds
 * it). */
int net_claim(struct run *r, char *why, size_t size);

/* Remove what a run with r's prefix left: processes in its namespaces,
 * the namespaces, links and tmpfs mounts. Only with the claim. */
void net_sweep(struct run *r);

/* Make the bridge, namespaces and veths for cfg->nodes slots, and fill
 * r->addr. Returns 0, or -1 with @why set (what made is swept again). */
int net_setup(struct run *r, char *why, size_t size);

/* Undo net_setup and unmount every disk (net_sweep); give up the
 * claim. */
void net_teardown(struct run *r);

/* Node @slot's namespace name, and address without port. */
void net_ns_name(const struct run *r, int slot, char *buf, size_t size);
void net_ip(const struct run *r, int slot, char *buf, size_t size);

/* In @slot's namespace, drop every packet from the slots in @from (a
 * bit per slot) and, if @loss_pct > 0, that percentage of all other
 * packets from the subnet at random (nft numgen). Replaces the rules that
 * were there. Returns 0 or -1. */
int net_block(struct run *r, int slot, unsigned from, int loss_pct);

/* Delete the rules in every namespace. Returns 0, or -1 if any failed. */
int net_heal(struct run *r);

/* Mount node @id's data directory as a tmpfs (it must not exist yet, or
 * be empty). Returns 0 or -1 with @why set. */
int disk_mount(struct run *r, uint64_t id, char *why, size_t size);
/* Unmount it (lazily: a node still running keeps its files). */
void disk_umount(struct run *r, uint64_t id);

/* Node @id's balloon file. */
void disk_balloon_path(const struct run *r, uint64_t id, char *buf,
                       size_t size);

/* Run a system tool (ip, nft; found in the sbin directories too) with
 * @argv (argv[0] its name, NULL-terminated), @input (or NULL) on its
 * stdin; output to the command log. With @out, stdout goes there
 * (NUL-terminated, cut at @size). Returns the exit status, or -1. */
int sys_cmd(struct run *r, const char *const *argv, const char *input,
            char *out, size_t size);

#endif /* WR_JEPSEN_NETNS_H */
