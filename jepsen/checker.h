/*
 * The checkers: each reads a parsed history (history.h) and judges it.
 *
 * A verdict is valid, invalid or unknown. Unknown means the checker could
 * not decide: its budget ran out, or the history does not meet the
 * workload's preconditions (values written twice, say, or nothing to
 * check). Unknown is never reported as valid.
 *
 * Every checker fills a struct check_result: the verdict, a text that
 * explains the smallest witness it found in words, for a human, and a JSON
 * object for machines:
 *
 *   {"checker": "register", "valid": true | false | "unknown",
 *    "explanation": "...", "anomaly_types": ["stale-read", ...],
 *    "anomalies": [...], ...checker-specific counts}
 *
 * Times in explanations are the history's nanoseconds shown as seconds.
 *
 * The checkers return 0 once the result is filled (whatever the verdict),
 * or WR_NOMEM, after which the result must still be closed. None of them
 * keeps a reference to the history.
 */
#ifndef WR_JEPSEN_CHECKER_H
#define WR_JEPSEN_CHECKER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "history.h"

enum check_verdict { CHECK_VALID, CHECK_INVALID, CHECK_UNKNOWN };

struct check_result {
    enum check_verdict verdict;
    char *explanation; /* Owned (malloc); several lines of text. */
    json_t *json;      /* One reference owned. */
};

/* Release what @r owns. Safe on a zeroed struct. */
void check_result_close(struct check_result *r);

/* "valid", "invalid" or "unknown". */
const char *check_verdict_str(enum check_verdict v);

/*
 * Register: ops "read" (value read; null means the initial, unwritten
 * register), "write" (value written) and "cas" (value [expected, new]),
 * each with a key. Every key is an independent linearizable register,
 * initially null, checked with Wing-Gong-Lowe search with memoisation.
 * fail ops never happened and are dropped; info writes and cas may or may
 * not have happened at any time after their invocation; info reads are
 * dropped. The search of one key stops after @max_steps steps (0: a default
 * of 10 million) or @max_seconds of CPU-independent wall time (0: no time
 * limit); then that key, and the verdict unless another key is invalid, is
 * unknown.
 */
struct register_opts {
    uint64_t max_steps;
    double max_seconds;
};
int check_register(const struct history *h, const struct register_opts *o,
                   struct check_result *r);

/*
 * Bank: ops "transfer" (value {"from": a, "to": b, "amount": n}) and
 * "read" (ok value: an object of account -> integer balance). Every ok
 * read must sum to @total (if @total < 0, to the first ok read's sum), and
 * no balance may be negative unless @allow_negative.
 */
struct bank_opts {
    int64_t total;
    bool allow_negative;
};
int check_bank(const struct history *h, const struct bank_opts *o,
               struct check_result *r);

/*
 * Set: ops "add" (value: a unique element) and "read" (ok value: an array
 * of elements). Final reads are the ok reads invoked after the last ok add
 * completed. Every ok add must appear in every final read (else lost);
 * nothing may appear in any read that was never added, or whose add failed
 * (unexpected); with @exactly_once no element may appear twice in one read
 * (duplicated). info adds may be present or absent.
 */
struct set_opts {
    bool exactly_once;
};
int check_set(const struct history *h, const struct set_opts *o,
              struct check_result *r);

/*
 * List-append, in the manner of Elle: ops "txn" whose value is a list of
 * micro-ops ["append", k, v] and ["r", k, null]; the ok completion repeats
 * them with each read's list filled in (null reads as the empty list).
 * Each (k, v) must be appended by at most one invocation. Judged against
 * strict serializability: G0, G1a, G1b, G1c, G-single, G2, their realtime
 * and process variants, internal inconsistency, incompatible orders and
 * duplicate elements are all invalid. @max_steps bounds the cycle search
 * used to classify cycles (0: a default of 10 million steps); running out
 * never hides that a cycle exists.
 */
struct list_append_opts {
    uint64_t max_steps;
};
int check_list_append(const struct history *h,
                      const struct list_append_opts *o,
                      struct check_result *r);

#endif /* WR_JEPSEN_CHECKER_H */
