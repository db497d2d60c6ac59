/*
 * Unit tests for the history parser and the four checkers (jepsen/).
 *
 * Every checker is shown a history it must pass and histories it must
 * flag, written by hand so the anomaly in each is known: a checker that
 * never says "invalid" would pass a harness run on a broken node, so the
 * bad histories matter more than the good ones.
 *
 * Histories are written with the macros below, one event per line; load()
 * numbers the lines and gives event i the time i * 100 ms, so a history
 * reads top to bottom in real time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../jepsen/checker.h"
#include "../../jepsen/history.h"
#include "../../lib/err.h"

/* One event: process, type, f, key, value (the value may hold commas). */
#define EV(p, type, f, k, ...)                                             \
    "{\"process\":" #p ",\"type\":\"" type "\",\"f\":\"" #f "\",\"key\":" #k \
    ",\"value\":" #__VA_ARGS__ "}\n"
#define INV(p, f, k, ...) EV(p, "invoke", f, k, __VA_ARGS__)
#define OK(p, f, k, ...) EV(p, "ok", f, k, __VA_ARGS__)
#define FAIL(p, f, k, ...) EV(p, "fail", f, k, __VA_ARGS__)
#define INFO(p, f, k, ...) EV(p, "info", f, k, __VA_ARGS__)

/* Transactions: the key field is unused. */
#define TINV(p, ...) INV(p, txn, null, __VA_ARGS__)
#define TOK(p, ...) OK(p, txn, null, __VA_ARGS__)
#define TFAIL(p, ...) FAIL(p, txn, null, __VA_ARGS__)

/*
 * Allocation failure injection. While armed, every allocation from the
 * fail_from-th on fails. The test is linked with --wrap for malloc, calloc,
 * realloc and strdup (jepsen/jepsen.cmake), which catches the calls made
 * by the code under test, and jansson is given the same allocator in
 * main(), so a sweep of fail_from reaches every allocation on the path.
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static long alloc_count;
static long fail_from = -1;
static int jansson_may_fail = 1;

static int alloc_fails(void)
{
    return fail_from >= 0 && alloc_count++ >= fail_from;
}

void *__wrap_malloc(size_t n)
{
    return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return alloc_fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return alloc_fails() ? NULL : __real_strdup(s);
}

static void *jansson_malloc(size_t n)
{
    return jansson_may_fail ? __wrap_malloc(n) : __real_malloc(n);
}

/* Parse @lines after adding "index" and "time" to each; fails the test if
 * the history does not parse. */
static void load(struct history *h, const char *lines)
{
    size_t cap = strlen(lines) * 2 + 64;
    char *text = malloc(cap);
    size_t len = 0;
    size_t i = 0;
    char errmsg[WR_ERRMSG_SIZE];

    assert_non_null(text);
    for (const char *p = lines; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        assert_true(p[0] == '{');
        len += (size_t)snprintf(text + len, cap - len,
                                "{\"index\":%zu,\"time\":%zu,", i,
                                i * 100000000);
        memcpy(text + len, p + 1, n - 1);
        len += n - 1;
        text[len++] = '\n';
        i++;
        p += n + (nl != NULL);
    }
    int rv = history_parse(h, text, len, errmsg);
    if (rv != 0)
        print_error("history_parse: %s\n", errmsg);
    assert_int_equal(rv, 0);
    free(text);
}

/* Whether the result's anomaly_types holds @type. */
static int has_type(const struct check_result *r, const char *type)
{
    json_t *types = json_object_get(r->json, "anomaly_types");
    size_t i;
    json_t *t;
    json_array_foreach(types, i, t) {
        if (strcmp(json_string_value(t), type) == 0)
            return 1;
    }
    return 0;
}

static void expect(const struct check_result *r, enum check_verdict v)
{
    if (r->verdict != v)
        print_error("expected %s, got %s:\n%s", check_verdict_str(v),
                    check_verdict_str(r->verdict), r->explanation);
    assert_int_equal(r->verdict, v);
    /* The JSON result agrees with the verdict. */
    json_t *valid = json_object_get(r->json, "valid");
    if (v == CHECK_VALID)
        assert_true(json_is_true(valid));
    else if (v == CHECK_INVALID)
        assert_true(json_is_false(valid));
    else
        assert_string_equal(json_string_value(valid), "unknown");
    assert_non_null(r->explanation);
}

static void run_register(const char *lines, uint64_t max_steps,
                         struct check_result *r)
{
    struct history h;
    struct register_opts o = {.max_steps = max_steps};
    load(&h, lines);
    assert_int_equal(check_register(&h, &o, r), 0);
    history_close(&h);
}

static void run_bank(const char *lines, int64_t total, bool allow_negative,
                     struct check_result *r)
{
    struct history h;
    struct bank_opts o = {.total = total, .allow_negative = allow_negative};
    load(&h, lines);
    assert_int_equal(check_bank(&h, &o, r), 0);
    history_close(&h);
}

static void run_set(const char *lines, bool exactly_once,
                    struct check_result *r)
{
    struct history h;
    struct set_opts o = {.exactly_once = exactly_once};
    load(&h, lines);
    assert_int_equal(check_set(&h, &o, r), 0);
    history_close(&h);
}

static void run_la(const char *lines, struct check_result *r)
{
    struct history h;
    struct list_append_opts o = {0};
    load(&h, lines);
    assert_int_equal(check_list_append(&h, &o, r), 0);
    history_close(&h);
}

/*
 * The history format.
 */

/* Invocations pair with their completions per process; an info and an
 * unfinished operation both stay open forever. */
static void history_pairs_invocations_with_completions(void **state)
{
    struct history h;
    (void)state;
    load(&h, INV(0, write, 1, 5)
             "{\"process\":\"nemesis\",\"type\":\"info\","
             "\"f\":\"partition\",\"value\":\"halves\"}\n"
             INV(1, read, 1, null)
             OK(1, read, 1, 5)
             OK(0, write, 1, 5)
             INV(2, write, 1, 6)
             INFO(2, write, 1, 6)
             INV(3, read, 1, null));
    assert_int_equal(h.n_events, 8);
    assert_int_equal(h.n_ops, 4); /* The nemesis event is no operation. */
    assert_int_equal(h.events[1].process, HIST_NEMESIS);
    assert_int_equal(h.ops[0].type, HIST_OK);
    assert_int_equal(h.ops[0].complete, 4);
    assert_int_equal(h.ops[1].complete, 3);
    assert_int_equal(json_integer_value(h.ops[1].value), 5);
    assert_int_equal(h.ops[2].type, HIST_INFO);
    assert_int_equal(h.ops[2].complete, SIZE_MAX);
    assert_int_equal(h.ops[3].type, HIST_INFO);
    assert_true(hist_op_precedes(&h.ops[1], &h.ops[2]));
    assert_false(hist_op_precedes(&h.ops[2], &h.ops[3]));
    assert_string_equal(h.ops[0].key, "1");
    history_close(&h);
}

/* Each malformed history is refused with its line and what is wrong,
 * never a crash. */
static void history_refuses_malformed_lines(void **state)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
         "{\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\"\n",
         "line 2: "},
        {"[1,2]\n", "line 1: not a JSON object"},
        {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n",
         "line 1: \"time\""},
        {"{\"time\":0,\"process\":-3,\"type\":\"invoke\",\"f\":\"read\"}\n",
         "line 1: \"process\""},
        {"{\"time\":0,\"process\":0,\"type\":\"done\",\"f\":\"read\"}\n",
         "line 1: \"type\""},
        {"{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":7}\n",
         "line 1: \"f\""},
        {"{\"time\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
         "{\"time\":4,\"process\":0,\"type\":\"ok\",\"f\":\"read\"}\n",
         "line 2: time 4 ns is before"},
        {"{\"index\":3,\"time\":0,\"process\":0,\"type\":\"invoke\","
         "\"f\":\"read\"}\n\n"
         "{\"index\":3,\"time\":1,\"process\":0,\"type\":\"ok\","
         "\"f\":\"read\"}\n",
         "line 3: index 3 does not follow"},
        {"{\"time\":0,\"process\":0,\"type\":\"ok\",\"f\":\"read\"}\n",
         "line 1: ok completion for process 0, which has no open"},
        {"{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
         "{\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n",
         "line 2: process 0 invokes while its operation from line 1"},
        {"{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
         "{\"time\":1,\"process\":0,\"type\":\"info\",\"f\":\"read\"}\n"
         "{\"time\":2,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n",
         "line 3: process 0 invokes again after an info"},
        {"{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
         "{\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"write\"}\n",
         "line 2: completion f \"write\" does not match"},
        {"{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\","
         "\"key\":1}\n"
         "{\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\","
         "\"key\":2}\n",
         "line 2: completion key does not match"},
        {"{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\","
         "\"f\":\"write\"}\n",
         "line 1: "},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct history h;
        char errmsg[WR_ERRMSG_SIZE];
        int rv = history_parse(&h, cases[i].text, strlen(cases[i].text),
                               errmsg);
        assert_int_equal(rv, WR_CORRUPT);
        if (strstr(errmsg, cases[i].msg) == NULL) {
            print_error("case %zu: got \"%s\", want \"%s\"\n", i, errmsg,
                        cases[i].msg);
            fail();
        }
        history_close(&h); /* Left empty: closing is harmless. */
    }
}

/* A file that does not exist is an I/O error with its name. */
static void history_load_reports_missing_file(void **state)
{
    struct history h;
    char errmsg[WR_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(history_load(&h, "/nonexistent/history.jsonl", errmsg),
                     WR_IOERR);
    assert_non_null(strstr(errmsg, "/nonexistent/history.jsonl"));
}

/*
 * Register.
 */

/* Concurrent writes and reads that some order explains: valid. */
static void register_valid_concurrent_history(void **state)
{
    struct check_result r;
    (void)state;
    run_register(INV(0, write, 1, 1)
                 OK(0, write, 1, 1)
                 INV(0, write, 1, 2)
                 INV(1, read, 1, null)
                 INV(2, read, 1, null)
                 OK(1, read, 1, 2)
                 OK(2, read, 1, 1)  /* Not yet 2: the write overlaps. */
                 OK(0, write, 1, 2)
                 INV(1, read, 1, null)
                 OK(1, read, 1, 2)
                 INV(0, write, 2, 7) /* Another key, independent. */
                 OK(0, write, 2, 7),
                 0, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
}

/* A read returns 1 although 2 was written and acknowledged before the read
 * began, while a later read sees 2: a stale read, invalid. */
static void register_stale_read_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_register(INV(0, write, 3, 1)
                 OK(0, write, 3, 1)
                 INV(0, write, 3, 2)
                 OK(0, write, 3, 2)
                 INV(1, read, 3, null)
                 OK(1, read, 3, 1)
                 INV(2, read, 3, null)
                 OK(2, read, 3, 2),
                 0, &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "nonlinearizable"));
    assert_non_null(strstr(r.explanation, "key 3:"));
    assert_non_null(strstr(r.explanation, "stale"));
    check_result_close(&r);
}

/* Write 2 is acknowledged, yet every later read returns the older 1: the
 * write was lost, invalid. */
static void register_lost_write_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_register(INV(0, write, 1, 1)
                 OK(0, write, 1, 1)
                 INV(1, write, 1, 2)
                 OK(1, write, 1, 2)
                 INV(2, read, 1, null)
                 OK(2, read, 1, 1)
                 INV(0, read, 1, null)
                 OK(0, read, 1, 1),
                 0, &r);
    expect(&r, CHECK_INVALID);
    json_t *a = json_array_get(json_object_get(r.json, "anomalies"), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(a, "op"),
                                           "value")),
        1);
    check_result_close(&r);
}

/* A write whose outcome is unknown may have happened (a later read sees
 * it) or not (a later read does not): both are valid; but once seen it
 * cannot be unseen. */
static void register_info_write_may_or_may_not_happen(void **state)
{
    struct check_result r;
    (void)state;
    run_register(INV(0, write, 1, 1)
                 OK(0, write, 1, 1)
                 INV(1, write, 1, 2)
                 INFO(1, write, 1, 2)
                 INV(2, read, 1, null)
                 OK(2, read, 1, 2),
                 0, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);

    run_register(INV(0, write, 1, 1)
                 OK(0, write, 1, 1)
                 INV(1, write, 1, 2)
                 INFO(1, write, 1, 2)
                 INV(2, read, 1, null)
                 OK(2, read, 1, 1),
                 0, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);

    /* It may even take effect long after: 1, then 2, from one process. */
    run_register(INV(1, write, 1, 2)
                 INFO(1, write, 1, 2)
                 INV(0, write, 1, 1)
                 OK(0, write, 1, 1)
                 INV(2, read, 1, null)
                 OK(2, read, 1, 1)
                 INV(2, read, 1, null)
                 OK(2, read, 1, 2),
                 0, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);

    run_register(INV(0, write, 1, 1)
                 OK(0, write, 1, 1)
                 INV(1, write, 1, 2)
                 INFO(1, write, 1, 2)
                 INV(2, read, 1, null)
                 OK(2, read, 1, 2)
                 INV(2, read, 1, null)
                 OK(2, read, 1, 1),
                 0, &r);
    expect(&r, CHECK_INVALID);
    check_result_close(&r);
}

/* A chain of compare-and-sets, each from the value the last one left, is
 * valid; a second cas from the same old value succeeding is not. A failed
 * cas never happened. */
static void register_cas_chain(void **state)
{
    struct check_result r;
    (void)state;
    run_register(INV(0, write, 1, 0)
                 OK(0, write, 1, 0)
                 INV(1, cas, 1, [0, 1])
                 INV(2, cas, 1, [1, 2])
                 OK(1, cas, 1, [0, 1])
                 OK(2, cas, 1, [1, 2])
                 INV(0, cas, 1, [0, 3])
                 FAIL(0, cas, 1, [0, 3])
                 INV(0, read, 1, null)
                 OK(0, read, 1, 2),
                 0, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);

    run_register(INV(0, write, 1, 0)
                 OK(0, write, 1, 0)
                 INV(1, cas, 1, [0, 1])
                 OK(1, cas, 1, [0, 1])
                 INV(2, cas, 1, [0, 2])
                 OK(2, cas, 1, [0, 2]),
                 0, &r);
    expect(&r, CHECK_INVALID);
    assert_non_null(strstr(r.explanation, "cas from 0 to 2"));
    check_result_close(&r);
}

/* A read of a value nobody wrote is caught before any search. */
static void register_read_of_unwritten_value_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_register(INV(0, write, 1, 1)
                 OK(0, write, 1, 1)
                 INV(1, read, 1, null)
                 OK(1, read, 1, 9),
                 0, &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "nonlinearizable"));
    check_result_close(&r);
}

/* A cas without [expected, new] makes the history unusable for this
 * checker: unknown, with the line. */
static void register_malformed_cas_is_unknown(void **state)
{
    struct check_result r;
    (void)state;
    run_register(INV(0, cas, 1, 5) OK(0, cas, 1, 5), 0, &r);
    expect(&r, CHECK_UNKNOWN);
    assert_non_null(strstr(r.explanation, "line 1"));
    check_result_close(&r);
}

/* Eight concurrent writes need more search than a budget of 20 steps
 * allows: the verdict is unknown, never valid; with the default budget
 * the same history is valid. */
static void register_budget_exhausted_is_unknown(void **state)
{
    static const char *lines =
        INV(0, write, 1, 1) INV(1, write, 1, 2) INV(2, write, 1, 3)
        INV(3, write, 1, 4) INV(4, write, 1, 5) INV(5, write, 1, 6)
        INV(6, write, 1, 7) INV(7, write, 1, 8)
        OK(0, write, 1, 1) OK(1, write, 1, 2) OK(2, write, 1, 3)
        OK(3, write, 1, 4) OK(4, write, 1, 5) OK(5, write, 1, 6)
        OK(6, write, 1, 7) OK(7, write, 1, 8)
        INV(8, read, 1, null) OK(8, read, 1, 1);
    struct check_result r;
    (void)state;
    run_register(lines, 20, &r);
    expect(&r, CHECK_UNKNOWN);
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "unknown_keys")),
                     1);
    check_result_close(&r);

    run_register(lines, 0, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
}

/*
 * Bank.
 */

#define TRANSFER(p, a, b, n) \
    INV(p, transfer, null, {"from": a, "to": b, "amount": n}) \
    OK(p, transfer, null, {"from": a, "to": b, "amount": n})

/* Transfers move money and every read sees the total of 100: valid. */
static void bank_conserved_is_valid(void **state)
{
    struct check_result r;
    (void)state;
    run_bank(INV(1, read, null, null)
             TRANSFER(0, 0, 1, 10)
             OK(1, read, null, {"0": 50, "1": 50})
             TRANSFER(0, 1, 0, 30)
             INV(1, read, null, null)
             OK(1, read, null, {"0": 70, "1": 30}),
             100, false, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
}

/* A read sees a transfer's debit without its credit, totalling 90: the
 * first bad read is the witness. A negative balance is invalid unless
 * allowed. */
static void bank_violations_are_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_bank(TRANSFER(0, 0, 1, 10)
             INV(1, read, null, null)
             OK(1, read, null, {"0": 40, "1": 50})
             INV(1, read, null, null)
             OK(1, read, null, {"0": 40, "1": 70}),
             100, false, &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "wrong-total"));
    assert_non_null(strstr(r.explanation, "summing to 90"));
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "bad_reads")),
                     2);
    check_result_close(&r);

    static const char *negative =
        INV(1, read, null, null) OK(1, read, null, {"0": -10, "1": 110});
    run_bank(negative, 100, false, &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "negative-balance"));
    check_result_close(&r);
    run_bank(negative, 100, true, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
}

/*
 * Set.
 */

/* Every acknowledged add is in the final read: valid. */
static void set_all_present_is_valid(void **state)
{
    struct check_result r;
    (void)state;
    run_set(INV(0, add, null, 1) OK(0, add, null, 1)
            INV(1, add, null, 2) OK(1, add, null, 2)
            INV(2, read, null, null) OK(2, read, null, [2, 1]),
            true, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
}

/* Element 2 was acknowledged but the final read lacks it: lost. */
static void set_lost_element_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_set(INV(0, add, null, 1) OK(0, add, null, 1)
            INV(1, add, null, 2) OK(1, add, null, 2)
            INV(2, read, null, null) OK(2, read, null, [1]),
            false, &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "lost"));
    assert_non_null(strstr(r.explanation, "Element 2 was added"));
    check_result_close(&r);
}

/* A retried add lands twice: invalid with exactly-once, counted but
 * allowed without it. */
static void set_duplicate_element_with_exactly_once(void **state)
{
    static const char *lines =
        INV(0, add, null, 1) OK(0, add, null, 1)
        INV(2, read, null, null) OK(2, read, null, [1, 1]);
    struct check_result r;
    (void)state;
    run_set(lines, true, &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "duplicated"));
    check_result_close(&r);
    run_set(lines, false, &r);
    expect(&r, CHECK_VALID);
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "duplicated_count")),
                     1);
    check_result_close(&r);
}

/* An add with an unknown outcome may be absent or present; a failed add,
 * or one never attempted, may not appear. */
static void set_info_add_may_be_absent(void **state)
{
    struct check_result r;
    (void)state;
    run_set(INV(0, add, null, 1) OK(0, add, null, 1)
            INV(1, add, null, 2) INFO(1, add, null, 2)
            INV(2, read, null, null) OK(2, read, null, [1]),
            true, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
    run_set(INV(0, add, null, 1) OK(0, add, null, 1)
            INV(1, add, null, 2) INFO(1, add, null, 2)
            INV(2, read, null, null) OK(2, read, null, [1, 2]),
            true, &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
    run_set(INV(0, add, null, 1) OK(0, add, null, 1)
            INV(1, add, null, 2) FAIL(1, add, null, 2)
            INV(2, read, null, null) OK(2, read, null, [1, 2, 3]),
            true, &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "unexpected"));
    assert_int_equal(json_integer_value(json_object_get(r.json,
                                                        "unexpected_count")),
                     2);
    check_result_close(&r);
}

/*
 * List-append.
 */

/* Transactions that a serial order in real time explains: valid. */
static void la_serializable_history_is_valid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1]])
           TOK(0, [["append", "x", 1]])
           TINV(1, [["r", "x", null], ["append", "y", 1]])
           TINV(2, [["append", "x", 2]])
           TOK(1, [["r", "x", [1]], ["append", "y", 1]])
           TOK(2, [["append", "x", 2]])
           TINV(0, [["r", "y", null], ["r", "x", null], ["append", "x", 3]])
           TOK(0, [["r", "y", [1]], ["r", "x", [1, 2]], ["append", "x", 3]])
           TINV(1, [["r", "x", null], ["r", "z", null]])
           TOK(1, [["r", "x", [1, 2, 3]], ["r", "z", null]]),
           &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
}

/* Two concurrent transactions append to x and y in opposite orders: a
 * write cycle, G0. */
static void la_g0_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1], ["append", "y", 1]])
           TINV(1, [["append", "x", 2], ["append", "y", 2]])
           TOK(0, [["append", "x", 1], ["append", "y", 1]])
           TOK(1, [["append", "x", 2], ["append", "y", 2]])
           TINV(2, [["r", "x", null], ["r", "y", null]])
           TOK(2, [["r", "x", [1, 2]], ["r", "y", [2, 1]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G0"));
    assert_non_null(strstr(r.explanation, "appended 2 after"));
    check_result_close(&r);
}

/* A committed read sees an append from a transaction that failed: G1a. */
static void la_g1a_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1]])
           TFAIL(0, [["append", "x", 1]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", [1]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G1a"));
    check_result_close(&r);
}

/* A read ends at 1 while the transaction that appended 1 went on to
 * append 2 to the same key: it saw an intermediate state, G1b. */
static void la_g1b_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1], ["append", "x", 2]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", [1]]])
           TOK(0, [["append", "x", 1], ["append", "x", 2]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", [1, 2]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G1b"));
    check_result_close(&r);
}

/* Each of two concurrent transactions observes the other's append: a
 * cycle of write-read dependencies, G1c. */
static void la_g1c_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1], ["r", "y", null]])
           TINV(1, [["append", "y", 1], ["r", "x", null]])
           TOK(0, [["append", "x", 1], ["r", "y", [1]]])
           TOK(1, [["append", "y", 1], ["r", "x", [1]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G1c"));
    assert_false(has_type(&r, "G0"));
    assert_non_null(strstr(r.explanation, "observed"));
    check_result_close(&r);
}

/* A reader sees T0's append to y but not its append to x: read skew, a
 * cycle with one anti-dependency, G-single. */
static void la_g_single_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1], ["append", "y", 1]])
           TINV(1, [["r", "x", null], ["r", "y", null]])
           TOK(0, [["append", "x", 1], ["append", "y", 1]])
           TOK(1, [["r", "x", null], ["r", "y", [1]]])
           TINV(2, [["r", "x", null]])
           TOK(2, [["r", "x", [1]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G-single"));
    assert_non_null(strstr(r.explanation, "did not observe"));
    check_result_close(&r);
}

/* Write skew: each transaction reads the key the other appends to and
 * misses it, two anti-dependencies, G2. */
static void la_g2_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["r", "x", null], ["append", "y", 1]])
           TINV(1, [["r", "y", null], ["append", "x", 1]])
           TOK(0, [["r", "x", null], ["append", "y", 1]])
           TOK(1, [["r", "y", null], ["append", "x", 1]])
           TINV(2, [["r", "x", null], ["r", "y", null]])
           TOK(2, [["r", "x", [1]], ["r", "y", [1]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G2"));
    assert_false(has_type(&r, "G-single"));
    check_result_close(&r);
}

/* A read invoked after an append completed does not see it. Serializable
 * (order the read first) but not strict-serializable: G-single-realtime
 * and nothing weaker. */
static void la_realtime_stale_read_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1]])
           TOK(0, [["append", "x", 1]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", null]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G-single-realtime"));
    assert_false(has_type(&r, "G-single"));
    assert_int_equal(json_array_size(json_object_get(r.json,
                                                     "anomaly_types")),
                     1);
    assert_non_null(strstr(r.explanation, "before T1 was invoked"));
    check_result_close(&r);
}

/* Two reads of x that are not prefixes of one another, and a read holding
 * one element twice, are each invalid. */
static void la_incompatible_order_and_duplicates(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1]])
           TINV(1, [["append", "x", 2]])
           TOK(0, [["append", "x", 1]])
           TOK(1, [["append", "x", 2]])
           TINV(2, [["r", "x", null]])
           TOK(2, [["r", "x", [1, 2]]])
           TINV(3, [["r", "x", null]])
           TOK(3, [["r", "x", [2, 1, 1]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "incompatible-order"));
    assert_true(has_type(&r, "duplicate-elements"));
    check_result_close(&r);
}

/* A transaction whose outcome is unknown may have committed (a later read
 * sees its append) or not (none does): valid both ways. Seen, it joins the
 * graph like any other: here the reader of its append cannot also have
 * missed it. */
static void la_info_txn_may_or_may_not_commit(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1]])
           INFO(0, txn, null, [["append", "x", 1]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", [1]]]),
           &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
    run_la(TINV(0, [["append", "x", 1]])
           INFO(0, txn, null, [["append", "x", 1]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", null]]),
           &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
    run_la(TINV(0, [["append", "x", 1]])
           INFO(0, txn, null, [["append", "x", 1]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", [1]]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", null]]),
           &r);
    expect(&r, CHECK_INVALID);
    check_result_close(&r);

    /* Its append to y was read, so it committed, and its append to x
     * happened too: a reader that saw y but not x saw half of it. */
    run_la(TINV(0, [["append", "x", 1], ["append", "y", 1]])
           INFO(0, txn, null, [["append", "x", 1], ["append", "y", 1]])
           TINV(1, [["r", "y", null], ["r", "x", null]])
           TOK(1, [["r", "y", [1]], ["r", "x", null]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "G-single"));
    check_result_close(&r);
}

/* A transaction that reads its own append before making it, or does not
 * see an append it already made, is internally inconsistent. */
static void la_internal_inconsistency_is_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["r", "x", null], ["append", "x", 1]])
           TOK(0, [["r", "x", [1]], ["append", "x", 1]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "internal"));
    check_result_close(&r);
    run_la(TINV(0, [["append", "x", 1], ["r", "x", null]])
           TOK(0, [["append", "x", 1], ["r", "x", null]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "internal"));
    check_result_close(&r);
    run_la(TINV(0, [["append", "x", 1], ["r", "x", null]])
           TOK(0, [["append", "x", 1], ["r", "x", [1]]]),
           &r);
    expect(&r, CHECK_VALID);
    check_result_close(&r);
}

/* One transaction appends 1 then 2, and a read shows 2 before 1: no
 * dependency edge links a transaction to itself, so this has its own
 * check. */
static void la_out_of_order_appends_are_invalid(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1], ["append", "x", 2]])
           TOK(0, [["append", "x", 1], ["append", "x", 2]])
           TINV(1, [["r", "x", null]])
           TOK(1, [["r", "x", [2, 1]]]),
           &r);
    expect(&r, CHECK_INVALID);
    assert_true(has_type(&r, "out-of-order-appends"));
    assert_non_null(strstr(r.explanation, "appended 1 before 2"));
    check_result_close(&r);
}

/* The same value appended twice to one key breaks the checker's
 * precondition: unknown, never valid. */
static void la_duplicate_appends_are_unknown(void **state)
{
    struct check_result r;
    (void)state;
    run_la(TINV(0, [["append", "x", 1]])
           TOK(0, [["append", "x", 1]])
           TINV(1, [["append", "x", 1]])
           TOK(1, [["append", "x", 1]]),
           &r);
    expect(&r, CHECK_UNKNOWN);
    assert_non_null(strstr(r.explanation, "appended to key \"x\" twice"));
    check_result_close(&r);
}

/*
 * Out of memory.
 */

static int sweep_register(const struct history *h, struct check_result *r)
{
    struct register_opts o = {0};
    return check_register(h, &o, r);
}

static int sweep_bank(const struct history *h, struct check_result *r)
{
    struct bank_opts o = {.total = 100};
    return check_bank(h, &o, r);
}

static int sweep_set(const struct history *h, struct check_result *r)
{
    struct set_opts o = {.exactly_once = true};
    return check_set(h, &o, r);
}

static int sweep_la(const struct history *h, struct check_result *r)
{
    struct list_append_opts o = {0};
    return check_list_append(h, &o, r);
}

/* Run @run on @lines with the first, second, ... allocation failing until
 * a run allocates no more than the limit. Each run returns WR_NOMEM or the
 * right verdict, and releases everything (ASan's leak check). */
static void sweep(const char *lines,
                  int (*run)(const struct history *, struct check_result *),
                  enum check_verdict want)
{
    struct history h;
    load(&h, lines);
    for (long n = 0;; n++) {
        struct check_result r;
        alloc_count = 0;
        fail_from = n;
        int rv = run(&h, &r);
        fail_from = -1;
        if (rv == 0)
            assert_int_equal(r.verdict, want);
        else
            assert_int_equal(rv, WR_NOMEM);
        check_result_close(&r);
        if (alloc_count <= n) {
            /* Nothing failed: this run must have succeeded. */
            assert_int_equal(rv, 0);
            print_message("sweep: %ld allocation points\n", n);
            break;
        }
    }
    history_close(&h);
}

static const char *oom_register_lines =
    INV(0, write, 3, 1) OK(0, write, 3, 1) INV(0, write, 3, 2)
    INV(1, read, 3, null) OK(0, write, 3, 2) OK(1, read, 3, 1)
    INV(2, read, 3, null) OK(2, read, 3, 1) INV(1, cas, 4, [null, 1])
    OK(1, cas, 4, [null, 1]);

static const char *oom_la_lines =
    TINV(0, [["append", "x", 1], ["append", "y", 1]])
    TINV(1, [["r", "x", null], ["r", "y", null]])
    TOK(0, [["append", "x", 1], ["append", "y", 1]])
    TOK(1, [["r", "x", null], ["r", "y", [1]]])
    TINV(2, [["r", "x", null], ["append", "z", 5]])
    TOK(2, [["r", "x", [1]], ["append", "z", 5]])
    TINV(2, [["r", "z", null]])
    TOK(2, [["r", "z", null]]);

/* Parsing with every allocation in turn failing returns WR_NOMEM, never
 * a crash, a leak or a false "corrupt". jansson 2.14 reports some
 * allocation failures inside its lexer as syntax errors, so this sweep
 * leaves jansson's own allocations alone. */
static void history_parse_when_out_of_memory(void **state)
{
    static const char *text =
        "{\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"write\","
        "\"key\":[1,2],\"value\":{\"a\":[1,2,3]}}\n"
        "{\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"read\","
        "\"key\":\"k\"}\n"
        "{\"time\":2,\"process\":0,\"type\":\"info\",\"f\":\"write\"}\n";
    (void)state;
    jansson_may_fail = 0;
    for (long n = 0;; n++) {
        struct history h;
        char errmsg[WR_ERRMSG_SIZE];
        alloc_count = 0;
        fail_from = n;
        int rv = history_parse(&h, text, strlen(text), errmsg);
        fail_from = -1;
        if (rv != 0 && rv != WR_NOMEM)
            print_error("failing from allocation %ld: %s\n", n, errmsg);
        if (rv != 0)
            assert_int_equal(rv, WR_NOMEM);
        else
            assert_int_equal(h.n_ops, 2);
        history_close(&h);
        if (alloc_count <= n) {
            assert_int_equal(rv, 0);
            break;
        }
    }
    jansson_may_fail = 1;
}

/* Each checker, with every allocation in turn failing, reports WR_NOMEM
 * or its true verdict: running out of memory never passes a bad history. */
static void checkers_when_out_of_memory(void **state)
{
    (void)state;
    sweep(oom_register_lines, sweep_register, CHECK_INVALID);
    sweep(INV(0, read, null, null) OK(0, read, null, {"0": 60, "1": 50})
          INV(0, read, null, null) OK(0, read, null, {"0": 50, "1": 50}),
          sweep_bank, CHECK_INVALID);
    sweep(INV(0, add, null, 1) OK(0, add, null, 1)
          INV(1, add, null, 2) OK(1, add, null, 2)
          INV(2, read, null, null) OK(2, read, null, [2, 2, 7]),
          sweep_set, CHECK_INVALID);
    sweep(oom_la_lines, sweep_la, CHECK_INVALID);
    /* And never fails a good one. */
    sweep(INV(0, write, 1, 1) INV(1, read, 1, null) OK(1, read, 1, 1)
          OK(0, write, 1, 1) INV(1, cas, 1, [1, 2]) OK(1, cas, 1, [1, 2]),
          sweep_register, CHECK_VALID);
    sweep(TINV(0, [["append", "x", 1]]) TOK(0, [["append", "x", 1]])
          TINV(1, [["r", "x", null], ["append", "x", 2]])
          TOK(1, [["r", "x", [1]], ["append", "x", 2]])
          TINV(0, [["r", "x", null]]) TOK(0, [["r", "x", [1, 2]]]),
          sweep_la, CHECK_VALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(history_pairs_invocations_with_completions),
        cmocka_unit_test(history_refuses_malformed_lines),
        cmocka_unit_test(history_load_reports_missing_file),
        cmocka_unit_test(register_valid_concurrent_history),
        cmocka_unit_test(register_stale_read_is_invalid),
        cmocka_unit_test(register_lost_write_is_invalid),
        cmocka_unit_test(register_info_write_may_or_may_not_happen),
        cmocka_unit_test(register_cas_chain),
        cmocka_unit_test(register_read_of_unwritten_value_is_invalid),
        cmocka_unit_test(register_malformed_cas_is_unknown),
        cmocka_unit_test(register_budget_exhausted_is_unknown),
        cmocka_unit_test(bank_conserved_is_valid),
        cmocka_unit_test(bank_violations_are_invalid),
        cmocka_unit_test(set_all_present_is_valid),
        cmocka_unit_test(set_lost_element_is_invalid),
        cmocka_unit_test(set_duplicate_element_with_exactly_once),
        cmocka_unit_test(set_info_add_may_be_absent),
        cmocka_unit_test(la_serializable_history_is_valid),
        cmocka_unit_test(la_g0_is_invalid),
        cmocka_unit_test(la_g1a_is_invalid),
        cmocka_unit_test(la_g1b_is_invalid),
        cmocka_unit_test(la_g1c_is_invalid),
        cmocka_unit_test(la_g_single_is_invalid),
        cmocka_unit_test(la_g2_is_invalid),
        cmocka_unit_test(la_realtime_stale_read_is_invalid),
        cmocka_unit_test(la_incompatible_order_and_duplicates),
        cmocka_unit_test(la_info_txn_may_or_may_not_commit),
        cmocka_unit_test(la_internal_inconsistency_is_invalid),
        cmocka_unit_test(la_out_of_order_appends_are_invalid),
        cmocka_unit_test(la_duplicate_appends_are_unknown),
        cmocka_unit_test(history_parse_when_out_of_memory),
        cmocka_unit_test(checkers_when_out_of_memory),
    };

    /* jansson allocates through the failure injection too. */
    json_set_alloc_funcs(jansson_malloc, free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
