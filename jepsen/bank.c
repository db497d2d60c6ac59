/*
 * The bank checker.
 *
 * Clients move money between accounts in transactions and read all
 * balances in one transaction. Transfers preserve the total, so under
 * snapshot isolation or anything stronger every read, including reads
 * taken while a transfer is in flight, must see exactly the configured
 * total, with every balance present and (unless negative balances are
 * allowed) none below zero. The reads alone decide the verdict: the
 * transfers' outcomes do not matter, since any set of whole transfers
 * conserves the total.
 *
 * A read's value is an object from account (a string, JSON having no
 * other keys) to integer balance, or an array of balances indexed by
 * account. The first bad read in history order is the witness.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"
#include "checker.h"
#include "report.h"

/* Sum @v's balances. Returns NULL if fine, else a static description of
 * what is wrong with the read, setting @acct to the account concerned
 * (borrowed) and @sum. */
static const char *judge_read(json_t *v, bool allow_negative, int64_t total,
                              bool have_total, int64_t *sum,
                              const char **acct, json_t **balance)
{
    static char idx[32];
    const char *name;
    json_t *bal;
    size_t i;

    *sum = 0;
    *acct = NULL;
    *balance = NULL;
    if (json_is_object(v)) {
        json_object_foreach(v, name, bal) {
            if (!json_is_integer(bal)) {
                *acct = name;
                *balance = bal;
                return "nil-balance";
            }
            if (!allow_negative && json_integer_value(bal) < 0) {
                *acct = name;
                *balance = bal;
                return "negative-balance";
            }
            *sum += json_integer_value(bal);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, bal) {
            snprintf(idx, sizeof idx, "%zu", i);
            if (!json_is_integer(bal)) {
                *acct = idx;
                *balance = bal;
                return "nil-balance";
            }
            if (!allow_negative && json_integer_value(bal) < 0) {
                *acct = idx;
                *balance = bal;
                return "negative-balance";
            }
            *sum += json_integer_value(bal);
        }
    } else {
        return "malformed-read";
    }
    if (have_total && *sum != total)
        return "wrong-total";
    return NULL;
}

int check_bank(const struct history *h, const struct bank_opts *o,
               struct check_result *r)
{
    struct text t = {0};
    json_t *json = json_object();
    json_t *anomalies = json_array();
    json_t *types = json_object();
    bool allow_negative = o && o->allow_negative;
    bool have_total = o && o->total >= 0;
    int64_t total = have_total ? o->total : 0;
    size_t n_reads = 0, n_bad = 0, n_transfers = 0;
    enum check_verdict verdict;

    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < h->n_ops; i++) {
        const struct hist_op *op = &h->ops[i];
        if (strcmp(op->f, "transfer") == 0) {
            n_transfers += op->type == HIST_OK;
            continue;
        }
        if (strcmp(op->f, "read") != 0 || op->type != HIST_OK)
            continue;
        int64_t sum;
        const char *acct;
        json_t *bal;
        const char *bad = judge_read(op->value, allow_negative, total,
                                     have_total, &sum, &acct, &bal);
        n_reads++;
        if (bad == NULL && !have_total) {
            /* The first good read fixes the total to hold the rest to. */
            have_total = true;
            total = sum;
        }
        if (bad == NULL)
            continue;
        n_bad++;
        json_t *a = op_json(h, op);
        json_object_set_new(a, "type", json_string(bad));
        if (strcmp(bad, "wrong-total") == 0) {
            json_object_set_new(a, "total", json_integer(sum));
            json_object_set_new(a, "expected", json_integer(total));
        }
        if (acct != NULL)
            json_object_set_new(a, "account", json_string(acct));
        json_object_set_new(types, bad, json_true());
        if (json_array_size(anomalies) < 64)
            json_array_append_new(anomalies, a);
        else
            json_decref(a);
        if (n_bad > 1)
            continue;
        /* The first bad read is the witness. */
        text_printf(&t, "The read (");
        text_op_times(&t, op);
        text_printf(&t, ") saw ");
        text_json(&t, op->value);
        if (strcmp(bad, "wrong-total") == 0)
            text_printf(&t, ": balances summing to %lld, but transfers "
                            "conserve the total of %lld.\n",
                        (long long)sum, (long long)total);
        else if (strcmp(bad, "negative-balance") == 0) {
            text_printf(&t, ": account %s is negative (", acct);
            text_json(&t, bal);
            text_printf(&t, ") and negative balances are not allowed.\n");
        } else if (strcmp(bad, "nil-balance") == 0) {
            text_printf(&t, ": account %s has no integer balance (", acct);
            text_json(&t, bal);
            text_printf(&t, ").\n");
        } else {
            text_printf(&t, ", which is neither an object nor an array of "
                            "balances.\n");
        }
    }

    struct text head = {0};
    if (n_bad > 0) {
        verdict = CHECK_INVALID;
        text_printf(&head, "Bank invariant violated in %zu of %zu reads. ",
                    n_bad, n_reads);
    } else if (n_reads == 0) {
        verdict = CHECK_UNKNOWN;
        text_printf(&head, "Unknown: no read completed, so nothing was "
                           "checked.\n");
    } else {
        verdict = CHECK_VALID;
        text_printf(&head, "All %zu reads saw a total of %lld%s.\n", n_reads,
                    (long long)total,
                    allow_negative ? "" : " and no negative balance");
    }
    text_printf(&head, "%s", t.s ? t.s : "");
    if (t.oom)
        head.oom = true;
    text_free(&t);

    json_t *type_list = json_array();
    const char *name;
    json_t *unused;
    json_object_foreach(types, name, unused)
        json_array_append_new(type_list, json_string(name));
    json_decref(types);
    if (json != NULL) {
        json_object_set_new(json, "anomaly_types", type_list);
        json_object_set_new(json, "anomalies", anomalies);
        json_object_set_new(json, "reads", json_integer((json_int_t)n_reads));
        json_object_set_new(json, "bad_reads",
                            json_integer((json_int_t)n_bad));
        json_object_set_new(json, "ok_transfers",
                            json_integer((json_int_t)n_transfers));
        json_object_set_new(json, "total",
                            have_total ? json_integer(total) : json_null());
    } else {
        json_decref(type_list);
        json_decref(anomalies);
    }
    return result_fill(r, "bank", verdict, &head, json);
}
