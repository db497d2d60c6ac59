/*
 * walraftd: one node of a walraft cluster.
 *
 * Parses the flags, creates and starts the node (node.h), runs its event
 * loop until SIGTERM or SIGINT has stopped it, and exits 0. Any failure to
 * start exits 1 with a sentence on stderr; bad flags exit 2.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"
#include "../lib/log.h"
#include "aio_reaper.h"
#include "node.h"
#include "prealloc.h"

static const char usage[] =
    "usage: walraftd --id N --address A.B.C.D:PORT --data-dir DIR\n"
    "                [--join HOST:PORT,...] [options]\n"
    "\n"
    "One node of a walraft cluster: a replicated SQLite database behind Raft.\n"
    "The address serves both Raft peers and clients (dqlite's wire protocol).\n"
    "A new data directory bootstraps a one-node cluster, or with --join asks\n"
    "the cluster at those addresses to add this node; an existing one\n"
    "restarts the node from its data.\n"
    "\n"
    "  --id N                    node id, unique in the cluster (> 0)\n"
    "  --address A.B.C.D:PORT    IPv4 address to listen on and be reached at\n"
    "  --data-dir DIR            Raft log, snapshots and databases\n"
    "  --join ADDRS              comma-separated addresses of cluster members\n"
    "  --voters N                voter target of the cluster (default 3)\n"
    "  --election-timeout MS     Raft election timeout (default 1000)\n"
    "  --heartbeat-timeout MS    Raft heartbeat interval (default 100)\n"
    "  --snapshot-threshold N    entries after which Raft asks the state\n"
    "                            machine for a snapshot (default 1)\n"
    "  --snapshot-trailing N     most entries kept after a snapshot\n"
    "                            (default 8192)\n"
    "  --snapshot-min-bytes N    least log bytes before a snapshot\n"
    "                            (default 1048576)\n"
    "  --snapshot-ratio PCT      least log bytes before a snapshot, in percent\n"
    "                            of the databases' size (default 100)\n"
    "  --snapshot-max-bytes N    log bytes that force a snapshot whatever the\n"
    "                            ratio: the log since the last snapshot is\n"
    "                            held in memory (default 67108864)\n"
    "  --snapshot-trailing-bytes N  most bytes of entries kept after a\n"
    "                            snapshot (default 16777216)\n"
    "  --compact-idle MS         after this long without writes, snapshot\n"
    "                            once a quarter of --snapshot-max-bytes is in\n"
    "                            the log; 0: never (default 5000)\n"
    "  --queue-timeout MS        a write waiting longer for the writer fails\n"
    "                            (default 10000)\n"
    "  --tx-timeout MS           an interactive transaction idle longer is\n"
    "                            rolled back (default 10000)\n"
    "  --min-free-space BYTES    refuse writes while the data directory's\n"
    "                            filesystem has less free (default 67108864)\n"
    "  --max-batch N             writes per group commit (default 256)\n"
    "  --max-connections N       client connections (default 1024)\n"
    "  --max-statements N        prepared statements per connection\n"
    "                            (default 1024)\n"
    "  --max-message BYTES       largest client message (default 16777216)\n"
    "  --log-level LEVEL         debug, info, warn or error (default info)\n"
    "  --help                    this text\n"
    "  --version                 the version\n";

enum {
    OPT_ID = 256,
    OPT_ADDRESS,
    OPT_DATA_DIR,
    OPT_JOIN,
    OPT_VOTERS,
    OPT_ELECTION,
    OPT_HEARTBEAT,
    OPT_SNAP_THRESHOLD,
    OPT_SNAP_TRAILING,
    OPT_SNAP_MIN_BYTES,
    OPT_SNAP_RATIO,
    OPT_SNAP_MAX_BYTES,
    OPT_SNAP_TRAILING_BYTES,
    OPT_COMPACT_IDLE,
    OPT_QUEUE_TIMEOUT,
    OPT_TX_TIMEOUT,
    OPT_MIN_FREE,
    OPT_MAX_BATCH,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_STATEMENTS,
    OPT_MAX_MESSAGE,
    OPT_LOG_LEVEL,
    OPT_UNSAFE_SKIP_READ_INDEX,
    OPT_HELP,
    OPT_VERSION
};

static const struct option options[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"join", required_argument, NULL, OPT_JOIN},
    {"voters", required_argument, NULL, OPT_VOTERS},
    {"election-timeout", required_argument, NULL, OPT_ELECTION},
    {"heartbeat-timeout", required_argument, NULL, OPT_HEARTBEAT},
    {"snapshot-threshold", required_argument, NULL, OPT_SNAP_THRESHOLD},
    {"snapshot-trailing", required_argument, NULL, OPT_SNAP_TRAILING},
    {"snapshot-min-bytes", required_argument, NULL, OPT_SNAP_MIN_BYTES},
    {"snapshot-ratio", required_argument, NULL, OPT_SNAP_RATIO},
    {"snapshot-max-bytes", required_argument, NULL, OPT_SNAP_MAX_BYTES},
    {"snapshot-trailing-bytes", required_argument, NULL,
     OPT_SNAP_TRAILING_BYTES},
    {"compact-idle", required_argument, NULL, OPT_COMPACT_IDLE},
    {"queue-timeout", required_argument, NULL, OPT_QUEUE_TIMEOUT},
    {"tx-timeout", required_argument, NULL, OPT_TX_TIMEOUT},
    {"min-free-space", required_argument, NULL, OPT_MIN_FREE},
    {"max-batch", required_argument, NULL, OPT_MAX_BATCH},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"max-statements", required_argument, NULL, OPT_MAX_STATEMENTS},
    {"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    /* Not in --help: breaks linearizable reads on purpose, so that the
     * fault harness can show it catches a broken read path. */
    {"unsafe-skip-read-index", no_argument, NULL, OPT_UNSAFE_SKIP_READ_INDEX},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int bad_flag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_flag(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "walraftd: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'walraftd --help'.\n");
    return 2;
}

/* A decimal integer in [@min, @max], nothing else. */
static int parse_u64(const char *name,
                     const char *s,
                     uint64_t min,
                     uint64_t max,
                     uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return bad_flag("--%s: \"%s\" is not a number", name, s);
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr,
                "walraftd: --%s: \"%s\" is not a number in [%" PRIu64
                ", %" PRIu64 "]\nTry 'walraftd --help'.\n",
                name, s, min, max);
        return 2;
    }
    *out = v;
    return 0;
}

static int parse_uint(const char *name,
                      const char *s,
                      unsigned min,
                      unsigned max,
                      unsigned *out)
{
    uint64_t v;
    int rv = parse_u64(name, s, min, max, &v);
    if (rv == 0) {
        *out = (unsigned)v;
    }
    return rv;
}

int main(int argc, char **argv)
{
    struct node_config config;
    char errmsg[WR_ERRMSG_SIZE];
    char tag[32];
    struct node *n;
    uint64_t v;
    int level = LOG_INFO;
    int opt;
    int rv = 0;

    memset(&config, 0, sizeof config);
    proto_limits_default(&config.limits);
    config.limits.max_message = 16u << 20;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        const char *name = opt >= OPT_ID && opt <= OPT_VERSION
                               ? options[opt - OPT_ID].name
                               : "";
        switch (opt) {
            case OPT_ID:
                rv = parse_u64(name, optarg, 1, INT64_MAX, &config.id);
                break;
            case OPT_ADDRESS:
                config.address = optarg;
                break;
            case OPT_DATA_DIR:
                config.data_dir = optarg;
                break;
            case OPT_JOIN:
                config.join = optarg;
                break;
            case OPT_VOTERS:
                rv = parse_uint(name, optarg, 1, 9, &config.voters);
                break;
            case OPT_ELECTION:
                rv = parse_uint(name, optarg, 50, 600000,
                                &config.election_timeout_ms);
                break;
            case OPT_HEARTBEAT:
                rv = parse_uint(name, optarg, 10, 60000,
                                &config.heartbeat_timeout_ms);
                break;
            case OPT_SNAP_THRESHOLD:
                rv = parse_uint(name, optarg, 1, UINT32_MAX,
                                &config.snapshot_threshold);
                break;
            case OPT_SNAP_TRAILING:
                rv = parse_uint(name, optarg, 1, UINT32_MAX,
                                &config.snapshot_trailing);
                break;
            case OPT_SNAP_MIN_BYTES:
                rv = parse_u64(name, optarg, 1, UINT64_MAX,
                               &config.snapshot_min_bytes);
                break;
            case OPT_SNAP_RATIO:
                rv = parse_uint(name, optarg, 1, 100000,
                                &config.snapshot_ratio_percent);
                break;
            case OPT_SNAP_MAX_BYTES:
                rv = parse_u64(name, optarg, 1, UINT64_MAX,
                               &config.snapshot_max_bytes);
                break;
            case OPT_SNAP_TRAILING_BYTES:
                rv = parse_u64(name, optarg, 1, UINT64_MAX,
                               &config.snapshot_trailing_bytes);
                break;
            case OPT_COMPACT_IDLE:
                rv = parse_uint(name, optarg, 0, 3600000,
                                &config.compact_idle_ms);
                config.compact_idle_off = rv == 0 && config.compact_idle_ms == 0;
                break;
            case OPT_QUEUE_TIMEOUT:
                rv = parse_uint(name, optarg, 1, 3600000,
                                &config.queue_timeout_ms);
                break;
            case OPT_TX_TIMEOUT:
                rv = parse_uint(name, optarg, 1, 3600000,
                                &config.tx_timeout_ms);
                break;
            case OPT_MIN_FREE:
                rv = parse_u64(name, optarg, 1, UINT64_MAX,
                               &config.min_free_bytes);
                break;
            case OPT_MAX_BATCH:
                rv = parse_uint(name, optarg, 1, 65536, &config.max_batch);
                break;
            case OPT_MAX_CONNECTIONS:
                rv = parse_uint(name, optarg, 1, 65536,
                                &config.max_connections);
                break;
            case OPT_MAX_STATEMENTS:
                rv = parse_uint(name, optarg, 1, 1u << 20,
                                &config.max_statements);
                break;
            case OPT_MAX_MESSAGE:
                rv = parse_u64(name, optarg, 4096, 1ull << 30, &v);
                config.limits.max_message = v;
                break;
            case OPT_LOG_LEVEL:
                level = log_parse_level(optarg);
                if (level < 0) {
                    rv = bad_flag("--%s: \"%s\" is not debug, info, warn "
                                  "or error",
                                  name, optarg);
                }
                break;
            case OPT_UNSAFE_SKIP_READ_INDEX:
                config.unsafe_skip_read_index = true;
                break;
            case OPT_HELP:
                fputs(usage, stdout);
                return 0;
            case OPT_VERSION:
                puts("walraftd " WALRAFT_VERSION);
                return 0;
            default:
                fputs(usage, stderr);
                return 2;
        }
        if (rv != 0) {
            return rv;
        }
    }
    if (optind < argc) {
        return bad_flag("\"%s\": unexpected argument", argv[optind]);
    }
    if (config.id == 0 || config.address == NULL || config.data_dir == NULL) {
        fprintf(stderr, "walraftd: --id, --address and --data-dir are "
                        "required\nTry 'walraftd --help'.\n");
        return 2;
    }
    if (config.heartbeat_timeout_ms != 0 &&
        config.heartbeat_timeout_ms * 2 >
            (config.election_timeout_ms != 0 ? config.election_timeout_ms
                                             : 1000)) {
        fprintf(stderr, "walraftd: the heartbeat timeout must be at most half "
                        "the election timeout\n");
        return 2;
    }

    log_set_level((enum log_level)level);
    snprintf(tag, sizeof tag, "node %llu", (unsigned long long)config.id);
    log_set_tag(tag);
    /* A peer that hangs up must not kill the process with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    /* Before node_create(), so that raft_uv's start-up probe sees a file
     * like its segments (prealloc.h). */
    prealloc_start();
    rv = node_create(&config, &n, errmsg);
    if (rv != 0) {
        log_error("cannot start: %s", errmsg);
        return 1;
    }
    /* After node_create(): raft_uv's start-up probe checks what its own
     * io_destroy returns (aio_reaper.h). */
    if (aio_reaper_start() != 0) {
        log_warn("cannot start the AIO reaper: segment rollovers will "
                 "stall the loop");
    }
    rv = node_start(n, errmsg);
    if (rv != 0) {
        log_error("cannot start: %s", errmsg);
        node_stop(n);
    }
    uv_run(node_loop(n), UV_RUN_DEFAULT);
    node_destroy(n);
    aio_reaper_stop();
    return rv == 0 ? 0 : 1;
}
