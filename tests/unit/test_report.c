/*
 * Unit tests for the reports of a judged history (jepsen/report_html.h):
 * timeline.html, latency.png and throughput.png.
 *
 * Histories are written by hand, one JSON line per event; load() gives
 * event i the index i and the time i * 100 ms. Each test renders into its
 * own temporary directory under WR_TEST_TMP and reads the files back. The
 * plots need gnuplot (scripts/install-deps installs it); the test for a
 * machine without it empties PATH.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../jepsen/checker.h"
#include "../../jepsen/history.h"
#include "../../jepsen/report_html.h"
#include "../../lib/err.h"

/*
 * Allocation failure injection, as in test_checkers.c: the test is linked
 * with --wrap for malloc, calloc, realloc and strdup (jepsen/jepsen.cmake)
 * and jansson is given the same allocator in main().
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

/* A growable string for building histories and reading files. */
struct buf {
    char *s;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void buf_add(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->s == NULL) {
        b->cap = 256;
        b->s = malloc(b->cap);
        assert_non_null(b->s);
    }
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        assert_non_null(b->s);
    }
}

/* Parse @lines (one JSON object per line, without "index" and "time")
 * after giving line i the index i and the time i * 100 ms. */
static void load(struct history *h, const char *lines)
{
    struct buf b = {0};
    char errmsg[WR_ERRMSG_SIZE];
    size_t i = 0;

    for (const char *p = lines; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        assert_true(p[0] == '{');
        buf_add(&b, "{\"index\":%zu,\"time\":%zu,%.*s\n", i, i * 100000000,
                (int)(n - 1), p + 1);
        i++;
        p += n + (nl != NULL);
    }
    int rv = history_parse(h, b.s, b.len, errmsg);
    if (rv != 0)
        print_error("history_parse: %s\n", errmsg);
    assert_int_equal(rv, 0);
    free(b.s);
}

/* A fresh directory under WR_TEST_TMP. */
static void make_dir(char *dir, size_t size)
{
    const char *base = getenv("WR_TEST_TMP");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    mkdir(base, 0700); /* ctest names it; it may not exist yet. */
    snprintf(dir, size, "%s/test_report-XXXXXX", base);
    assert_non_null(mkdtemp(dir));
}

/* Remove @dir and its files; fails the test if the renderer left any of
 * its temporary files behind. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[8192];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (strncmp(e->d_name, ".report-", 8) == 0 ||
            strstr(e->d_name, ".tmp") != NULL)
            fail_msg("temporary file left behind: %s", e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/* The contents of DIR/NAME, or NULL if it does not exist. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[8192];
    struct buf b = {0};
    char chunk[65536];
    size_t n;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    buf_add(&b, "%s", "");
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n + 1 > b.cap) {
            b.cap = (b.len + n + 1) * 2;
            b.s = realloc(b.s, b.cap);
            assert_non_null(b.s);
        }
        memcpy(b.s + b.len, chunk, n);
        b.len += n;
        b.s[b.len] = '\0';
    }
    fclose(f);
    if (len != NULL)
        *len = b.len;
    return b.s;
}

static void assert_png(const char *dir, const char *name)
{
    static const char sig[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a',
                                '\n'};
    size_t len;
    char *s = slurp(dir, name, &len);
    if (s == NULL)
        fail_msg("%s was not written", name);
    assert_true(len > sizeof sig);
    assert_memory_equal(s, sig, sizeof sig);
    free(s);
}

static bool exists(const char *dir, const char *name)
{
    char path[8192];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static void assert_contains(const char *html, const char *needle)
{
    if (strstr(html, needle) == NULL)
        fail_msg("timeline.html lacks: %s", needle);
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* @s as the page must show it: HTML-escaped, newlines as &#10;. */
static char *escaped(const char *s)
{
    struct buf b = {0};
    buf_add(&b, "%s", "");
    for (; *s; s++) {
        switch (*s) {
            case '&':
                buf_add(&b, "&amp;");
                break;
            case '<':
                buf_add(&b, "&lt;");
                break;
            case '>':
                buf_add(&b, "&gt;");
                break;
            case '"':
                buf_add(&b, "&quot;");
                break;
            case '\'':
                buf_add(&b, "&#39;");
                break;
            case '\n':
                buf_add(&b, "&#10;");
                break;
            default:
                buf_add(&b, "%c", *s);
        }
    }
    return b.s;
}

/* Rendering with PATH emptied, so that gnuplot cannot be found. */
static int render_without_gnuplot(const char *dir, const struct history *h,
                                  const json_t *results, char *err,
                                  size_t errsize)
{
    char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "", 1);
    int rv = report_render(dir, h, results, err, errsize);
    if (path != NULL) {
        setenv("PATH", path, 1);
        free(path);
    }
    return rv;
}

/* A register history with a pause and a stale value: process 1 reads a
 * value nobody wrote (and which would run as a script if it were pasted
 * into the page unescaped) while the leader is paused; a write fails with
 * an error; a cas ends in info and its worker goes on as process 4. */
static const char *invalid_register_lines =
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,"
    "\"value\":1}\n"
    "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":1,\"value\":1}\n"
    "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"pause\","
    "\"value\":2}\n"
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n"
    "{\"process\":2,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,"
    "\"value\":7}\n"
    "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":1,"
    "\"value\":\"<script>alert(1)</script>\"}\n"
    "{\"process\":2,\"type\":\"fail\",\"f\":\"write\",\"key\":1,"
    "\"value\":7,\"error\":\"not leader & <gone>\"}\n"
    "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"resume\","
    "\"value\":2}\n"
    "{\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":1,"
    "\"value\":[1,2]}\n"
    "{\"process\":3,\"type\":\"info\",\"f\":\"cas\",\"key\":1,"
    "\"value\":[1,2],\"error\":\"timeout\"}\n"
    "{\"process\":4,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n"
    "{\"process\":4,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":1}\n";

/* An invalid register history with a fault period renders a page showing
 * every operation, the shaded pause, the verdict and the explanation with
 * the witness outlined, everything escaped; and both plots. */
static void render_invalid_history_with_fault(void **state)
{
    struct history h;
    struct check_result r = {0};
    struct register_opts o = {0};
    char dir[4096], err[512];
    (void)state;

    load(&h, invalid_register_lines);
    assert_int_equal(check_register(&h, &o, &r), 0);
    assert_int_equal(r.verdict, CHECK_INVALID);
    make_dir(dir, sizeof dir);

    int rv = report_render(dir, &h, r.json, err, sizeof err);
    if (rv != 0)
        fail_msg("report_render: %s (gnuplot is installed by "
                 "scripts/install-deps)",
                 err);

    char *html = slurp(dir, "timeline.html", NULL);
    assert_non_null(html);
    assert_contains(html, "<!DOCTYPE html>");
    /* Nothing is fetched from elsewhere. */
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href=\"http"));
    assert_contains(html, "<span class=\"verdict v-invalid\">INVALID</span>");
    /* Every operation, as a box with its summary. */
    assert_int_equal(count(html, "<div class=\"op "), h.n_ops);
    for (size_t i = 0; i < h.n_ops; i++) {
        char id[32];
        snprintf(id, sizeof id, "id=\"op-%zu\"", i);
        assert_contains(html, id);
    }
    assert_contains(html, ">write 1 1</div>");
    assert_contains(html, "class=\"op fail\" id=\"op-2\"");
    assert_contains(html, "class=\"op info\" id=\"op-3\"");
    /* The pause is one band, from event 2 to event 7. */
    assert_int_equal(count(html, "<div class=\"band fault\""), 1);
    assert_contains(html, "pause 2 from 0.200 s to 0.700 s");
    /* The explanation, and the witness outlined and listed. */
    char *expl = escaped(r.explanation);
    assert_contains(html, expl);
    free(expl);
    assert_contains(html, "class=\"op ok hl\" id=\"op-1\"");
    assert_contains(html, "<a href=\"#op-1\">op 1</a> "
                          "anomalies[read-of-unwritten-value].op");
    /* Values and errors are escaped wherever they appear. */
    assert_null(strstr(html, "<script>alert"));
    assert_contains(html, "&quot;&lt;script&gt;alert(1)&lt;/script&gt;"
                          "&quot;");
    assert_contains(html, "error: not leader &amp; &lt;gone&gt;");
    /* The info cas's worker continues in its lane as process 4. */
    assert_contains(html, "lane 4<br>p 3, 4</div>");
    assert_null(strstr(html, "lane 5"));
    free(html);

    assert_png(dir, "latency.png");
    assert_png(dir, "throughput.png");
    remove_dir(dir);
    check_result_close(&r);
    history_close(&h);
}

/* Without gnuplot the page is still written, and the error names the
 * plots that are missing. */
static void render_without_gnuplot_writes_the_page(void **state)
{
    struct history h;
    char dir[4096], err[512];
    (void)state;

    load(&h, invalid_register_lines);
    make_dir(dir, sizeof dir);
    int rv = render_without_gnuplot(dir, &h, NULL, err, sizeof err);
    assert_int_equal(rv, WR_UNSUPPORTED);
    assert_non_null(strstr(err, "gnuplot"));
    assert_non_null(strstr(err, "latency.png"));
    assert_non_null(strstr(err, "throughput.png"));
    assert_true(exists(dir, "timeline.html"));
    assert_false(exists(dir, "latency.png"));
    assert_false(exists(dir, "throughput.png"));
    char *html = slurp(dir, "timeline.html", NULL);
    assert_contains(html, "NO VERDICT");
    free(html);
    remove_dir(dir);
    history_close(&h);
}

/* Nemesis events pair by kind (jepsen/nemesis.c's names): a restart ends
 * the kill and a heal-partition the partition though they interleave;
 * disk-free ends disk-fill; a failed injection, an end with nothing of
 * its kind open and a kind never ended (transfer) are markers; a kill
 * never restarted lasts to the end. */
static void faults_pair_by_kind(void **state)
{
    static const char *lines =
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"pause\","
        "\"error\":\"no leader found\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\","
        "\"value\":1}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"partition\","
        "\"value\":{\"kind\":\"partition-halves\"}}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"restart\","
        "\"value\":1}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":1}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":"
        "\"heal-partition\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"resume\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"transfer\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"disk-fill\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"transfer\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"disk-free\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"restart\"}\n"
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\","
        "\"value\":2}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":1}\n";
    static const char *const want[] = {
        "<li>pause at 0.000 s: error &quot;no leader found&quot;</li>",
        "<li>kill 1 from 0.100 s to 0.400 s (0.3 s, ended by restart)</li>",
        "<li>partition {&quot;kind&quot;:&quot;partition-halves&quot;} from "
        "0.200 s to 0.600 s (0.4 s, ended by heal-partition)</li>",
        "<li>resume at 0.700 s</li>",
        "<li>transfer at 0.800 s</li>",
        "<li>disk-fill from 0.900 s to 1.100 s (0.2 s, ended by "
        "disk-free)</li>",
        "<li>transfer at 1.000 s</li>",
        "<li>restart at 1.200 s</li>",
        "<li>kill 2 from 1.300 s to 1.500 s (0.2 s, still on at the end of "
        "the history)</li>",
    };
    struct history h;
    char dir[4096], err[512];
    (void)state;

    load(&h, lines);
    make_dir(dir, sizeof dir);
    int rv = render_without_gnuplot(dir, &h, NULL, err, sizeof err);
    assert_int_equal(rv, WR_UNSUPPORTED);
    char *html = slurp(dir, "timeline.html", NULL);
    assert_non_null(html);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_contains(html, want[i]);
    assert_contains(html, "4 fault periods");
    assert_int_equal(count(html, "<div class=\"band fault\""), 4);
    assert_int_equal(count(html, "<div class=\"mark\""), 5);
    free(html);
    remove_dir(dir);
    history_close(&h);
}

/* A history of more than REPORT_MAX_OPS operations draws a window of that
 * many around the first operation the results name, and says so. */
static void large_history_is_capped_around_the_witness(void **state)
{
    const size_t n = 2 * REPORT_MAX_OPS, witness = REPORT_MAX_OPS + 2000;
    struct buf b = {0};
    struct history h;
    char dir[4096], err[512], errmsg[WR_ERRMSG_SIZE];
    (void)state;

    for (size_t i = 0; i < n; i++) {
        /* Three workers in turn, 1 ms per event. */
        buf_add(&b,
                "{\"time\":%zu,\"process\":%zu,\"type\":\"invoke\","
                "\"f\":\"write\",\"key\":0,\"value\":%zu}\n"
                "{\"time\":%zu,\"process\":%zu,\"type\":\"ok\","
                "\"f\":\"write\",\"key\":0,\"value\":%zu}\n",
                2 * i * 1000000, i % 3, i, (2 * i + 1) * 1000000, i % 3, i);
    }
    assert_int_equal(history_parse(&h, b.s, b.len, errmsg), 0);
    free(b.s);
    /* Two operations named in one anomaly, as the register checker does:
     * both labels keep the anomaly's type. */
    json_t *results = json_pack(
        "{s:b, s:s, s:[{s:s, s:{s:I}, s:{s:I}}]}", "valid", 0,
        "explanation", "made up", "anomalies", "type", "made-up", "before",
        "invoke_index", (json_int_t)(2 * (witness - 1)), "op",
        "invoke_index", (json_int_t)(2 * witness));
    assert_non_null(results);

    make_dir(dir, sizeof dir);
    int rv = render_without_gnuplot(dir, &h, results, err, sizeof err);
    assert_int_equal(rv, WR_UNSUPPORTED);
    char *html = slurp(dir, "timeline.html", NULL);
    assert_non_null(html);
    assert_int_equal(count(html, "<div class=\"op "), REPORT_MAX_OPS);
    char want[128];
    /* Centred on the earlier of the two. */
    snprintf(want, sizeof want, "only operations %zu to %zu",
             witness - 1 - REPORT_MAX_OPS / 2,
             witness - 1 + REPORT_MAX_OPS / 2 - 1);
    assert_contains(html, want);
    snprintf(want, sizeof want, "class=\"op ok hl\" id=\"op-%zu\"", witness);
    assert_contains(html, want);
    snprintf(want, sizeof want, "op %zu</a> anomalies[made-up].before:",
             witness - 1);
    assert_contains(html, want);
    snprintf(want, sizeof want, "op %zu</a> anomalies[made-up].op:",
             witness);
    assert_contains(html, want);
    assert_null(strstr(html, "id=\"op-0\""));
    free(html);
    remove_dir(dir);
    json_decref(results);
    history_close(&h);
}

/* report_render_dir() loads the history and results.json itself; a
 * missing history is an error and writes nothing. */
static void render_dir_loads_the_files(void **state)
{
    char dir[4096], err[512], path[4200];
    (void)state;

    make_dir(dir, sizeof dir);
    assert_int_equal(report_render_dir(dir, err, sizeof err), WR_IOERR);
    assert_non_null(strstr(err, "history.jsonl"));
    assert_false(exists(dir, "timeline.html"));

    struct history h;
    load(&h, invalid_register_lines);
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < h.n_events; i++) {
        assert_int_equal(json_dumpf(h.events[i].obj, f, JSON_COMPACT), 0);
        fputc('\n', f);
    }
    fclose(f);
    history_close(&h);
    snprintf(path, sizeof path, "%s/results.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"valid\": true, \"explanation\": \"all fine\", \"run\": "
          "{\"nodes\": 3, \"nemesis\": [\"pause\"]}}\n",
          f);
    fclose(f);

    char *p = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "", 1);
    int rv = report_render_dir(dir, err, sizeof err);
    if (p != NULL) {
        setenv("PATH", p, 1);
        free(p);
    }
    assert_int_equal(rv, WR_UNSUPPORTED);
    char *html = slurp(dir, "timeline.html", NULL);
    assert_non_null(html);
    assert_contains(html, "v-valid\">VALID</span>");
    assert_contains(html, "all fine");
    assert_contains(html, "<td>nemesis</td><td>[&quot;pause&quot;]</td>");
    free(html);
    remove_dir(dir);
}

/* With every allocation in turn failing, rendering returns WR_NOMEM (or
 * succeeds), never crashes or leaks (ASan), and leaves no temporary file
 * behind. gnuplot is kept out of it (PATH emptied): it is not ours. */
static void render_when_out_of_memory(void **state)
{
    struct history h;
    struct check_result r = {0};
    struct register_opts o = {0};
    char dir[4096], err[512];
    (void)state;

    load(&h, invalid_register_lines);
    assert_int_equal(check_register(&h, &o, &r), 0);
    make_dir(dir, sizeof dir);
    for (long n = 0;; n++) {
        alloc_count = 0;
        fail_from = n;
        int rv = render_without_gnuplot(dir, &h, r.json, err, sizeof err);
        fail_from = -1;
        if (rv != WR_NOMEM && rv != WR_UNSUPPORTED)
            fail_msg("allocation %ld failing: %d: %s", n, rv, err);
        if (rv == WR_NOMEM)
            assert_true(strstr(err, "out of memory") != NULL);
        if (alloc_count <= n) {
            assert_int_equal(rv, WR_UNSUPPORTED);
            print_message("sweep: %ld allocation points\n", n);
            break;
        }
    }
    remove_dir(dir);
    check_result_close(&r);
    history_close(&h);
}

static void *jansson_malloc(size_t n)
{
    return __wrap_malloc(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_invalid_history_with_fault),
        cmocka_unit_test(render_without_gnuplot_writes_the_page),
        cmocka_unit_test(faults_pair_by_kind),
        cmocka_unit_test(large_history_is_capped_around_the_witness),
        cmocka_unit_test(render_dir_loads_the_files),
        cmocka_unit_test(render_when_out_of_memory),
    };

    json_set_alloc_funcs(jansson_malloc, free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
