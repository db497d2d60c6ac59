/*
 * The SQL commands of `walraft` (see shell.h): one session type for the
 * shell and the one-statement commands, so that they print, time and fail
 * alike.
 *
 * Input is cut into statements with sqlite3_complete(), as the sqlite3
 * shell does: a line is added to the pending text until that text ends a
 * complete statement; a line that starts with '.' while nothing is pending
 * is a dot command. Statements run one at a time through wr_prepare() and
 * wr_step(); a result set is gathered, then printed in the session's mode.
 */
#include "shell.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>
#include <sqlite3.h>

#include "../proto/wire.h"
#include "cluster.h"
#include "conn.h"
#include "format.h"
#include "walraft.h"

#define DEFAULT_ADDRESSES "127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003"
#define MAX_READ_DEPTH 8

struct session {
    wr_db *db;
    const char *addresses;
    const char *database;
    enum format_mode mode;
    bool headers;
    bool timer;
    bool interactive;
    int worst; /* Exit code of the worst failure so far. */
    int read_depth;
};

static const char *const level_names[] = {"default", "none", "weak",
                                          "linearizable", "strong"};

static bool parse_level(const char *s, int *out)
{
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

static const char *default_addresses(void)
{
    const char *env = getenv("WALRAFT_ADDRESSES");
    return env != NULL && env[0] != '\0' ? env : DEFAULT_ADDRESSES;
}

/* The exit code a failure with library code @rv stands for. */
static int exit_code_of(int rv)
{
    switch (rv) {
        case WR_IOERR:
        case WR_NOTLEADER:
        case WR_SHUTDOWN:
            return EXIT_UNAVAILABLE;
        default:
            return EXIT_FAILED;
    }
}

static void failed(struct session *s, int rv)
{
    int code = exit_code_of(rv);

    fprintf(stderr, "Error: %s\n", wr_errmsg(s->db));
    if (code > s->worst) {
        s->worst = code;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copy the current row of @stmt into a new row of @r. */
static int add_row(wr_stmt *stmt, struct format_result *r)
{
    struct format_cell *row = format_result_add_row(r);

    if (row == NULL) {
        return WR_NOMEM;
    }
    for (unsigned i = 0; i < r->n_cols; i++) {
        struct format_cell *c = &row[i];
        const void *p = NULL;
        char num[64];

        c->type = wr_column_type(stmt, (int)i);
        switch (c->type) {
            case WR_NULL:
                continue;
            case WR_INTEGER:
                snprintf(num, sizeof num, "%lld",
                         (long long)wr_column_int64(stmt, (int)i));
                p = num;
                c->len = strlen(num);
                break;
            case WR_FLOAT:
                /* As the sqlite3 shell prints reals. */
                sqlite3_snprintf(sizeof num, num, "%!.15g",
                                 wr_column_double(stmt, (int)i));
                p = num;
                c->len = strlen(num);
                break;
            case WR_BLOB:
                p = wr_column_blob(stmt, (int)i);
                c->len = (size_t)wr_column_bytes(stmt, (int)i);
                break;
            default:
                p = wr_column_text(stmt, (int)i);
                c->len = (size_t)wr_column_bytes(stmt, (int)i);
                break;
        }
        c->text = malloc(c->len + 1);
        if (c->text == NULL) {
            return WR_NOMEM;
        }
        if (c->len > 0) {
            memcpy(c->text, p, c->len);
        }
        c->text[c->len] = '\0';
    }
    return WR_OK;
}

/* Step @stmt to the end, gathering its rows into @r. */
static int gather(wr_stmt *stmt, struct format_result *r)
{
    bool started = false;
    int rv;

    memset(r, 0, sizeof *r);
    while ((rv = wr_step(stmt)) == WR_ROW) {
        if (!started) {
            int n = wr_column_count(stmt);
            const char **names = calloc(n > 0 ? (size_t)n : 1, sizeof *names);
            if (names == NULL) {
                return WR_NOMEM;
            }
            for (int i = 0; i < n; i++) {
                names[i] = wr_column_name(stmt, i);
            }
            rv = format_result_init(r, (unsigned)n, names);
            free(names);
            if (rv != 0) {
                return WR_NOMEM;
            }
            started = true;
        }
        rv = add_row(stmt, r);
        if (rv != WR_OK) {
            return rv;
        }
    }
    return rv == WR_DONE ? WR_OK : rv;
}

/* Bind @args to @stmt's parameters in order. */
static int bind_args(wr_stmt *stmt, int n, char **args)
{
    for (int i = 0; i < n; i++) {
        const char *a = args[i];
        char *end;
        int rv;
        long long ll;
        double d;

        errno = 0;
        ll = strtoll(a, &end, 10);
        if (a[0] != '\0' && *end == '\0' && errno == 0) {
            rv = wr_bind_int64(stmt, i + 1, ll);
        } else if (strcmp(a, "NULL") == 0) {
            rv = wr_bind_null(stmt, i + 1);
        } else if ((d = strtod(a, &end)), a[0] != '\0' && *end == '\0') {
            rv = wr_bind_double(stmt, i + 1, d);
        } else {
            rv = wr_bind_text(stmt, i + 1, a, -1);
        }
        if (rv != WR_OK) {
            return rv;
        }
    }
    return WR_OK;
}

/* Run every statement of @sql (binding @args to the first), printing the
 * results; stop at the first error. Returns WR_OK or that error. */
static int run_sql(struct session *s, const char *sql, int n_args, char **args)
{
    const char *p = sql;
    bool first = true;

    for (;;) {
        struct format_result r;
        wr_stmt *stmt = NULL;
        const char *tail = NULL;
        double t0 = now_s();
        int rv = wr_prepare(s->db, p, -1, &stmt, &tail);

        if (rv != WR_OK) {
            failed(s, rv);
            return rv;
        }
        if (stmt == NULL) {
            return WR_OK; /* Only blanks and comments were left. */
        }
        if (first && n_args > 0 && (rv = bind_args(stmt, n_args, args)) != 0) {
            failed(s, rv);
            wr_finalize(stmt);
            return rv;
        }
        first = false;
        rv = gather(stmt, &r);
        if (rv == WR_OK) {
            format_print(stdout, s->mode, s->headers, &r);
            if (s->timer) {
                printf("Run Time: real %.3f\n", now_s() - t0);
            }
        } else {
            failed(s, rv);
        }
        format_result_close(&r);
        wr_finalize(stmt);
        if (rv != WR_OK) {
            return rv;
        }
        p = tail;
    }
}

/*
 * Dot commands.
 */

static const char help_text[] =
    ".bookmark [N]            show the handle's bookmark, or set it\n"
    ".consistency [LEVEL [MS]] show or set the read level: default, none,\n"
    "                         weak, linearizable, strong (none: MS is the\n"
    "                         largest staleness accepted, 0 for no bound)\n"
    ".dump                    the database as SQL\n"
    ".headers on|off          column names in table and csv modes\n"
    ".help                    this text\n"
    ".leader                  the node that leads\n"
    ".mode table|csv|json|line  how results are printed\n"
    ".nodes                   the cluster's nodes and their roles\n"
    ".quit                    leave (also .exit, or end of input)\n"
    ".read FILE               run the statements in FILE\n"
    ".schema [TABLE]          the CREATE statements\n"
    ".tables                  the tables and views\n"
    ".timer on|off            time each statement\n";

static bool process_text(struct session *s, FILE *in, const char *name);

/* The cluster's nodes (CLUSTER) or its leader (LEADER), asked through a
 * connection of the tree's own (client/conn.h). */
static int show_nodes(struct session *s, bool leader_only)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_request req;
    struct proto_response resp;
    struct proto_iter it;
    struct proto_node node;
    struct conn *c = NULL;
    static const char *const roles[] = {"voter", "standby", "spare"};
    int rv;

    rv = conn_open_leader(s->addresses, 5000, 10000, &c, errmsg);
    if (rv != 0) {
        fprintf(stderr, "Error: %s\n", errmsg);
        return EXIT_UNAVAILABLE;
    }
    if (leader_only) {
        printf("%s\n", conn_address(c));
        conn_close(c);
        return EXIT_OK;
    }
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_CLUSTER;
    req.cluster.format = 1;
    rv = conn_request(c, &req, PROTO_RESP_SERVERS, &resp, errmsg);
    if (rv != 0) {
        fprintf(stderr, "Error: %s\n", errmsg);
        conn_close(c);
        return exit_code_of(rv);
    }
    proto_nodes_iter_init(&it, &resp.servers.servers);
    while (proto_nodes_next(&it, &node)) {
        printf("%llu %s %s%s\n", (unsigned long long)node.id, node.address,
               node.role < 3 ? roles[node.role] : "?",
               strcmp(node.address, conn_address(c)) == 0 ? " (leader)"
                                                          : "");
    }
    conn_close(c);
    return EXIT_OK;
}

/* Print the value of @stmt's column @i as an SQL literal. */
static void print_literal(wr_stmt *stmt, int i)
{
    switch (wr_column_type(stmt, i)) {
        case WR_NULL:
            fputs("NULL", stdout);
            break;
        case WR_INTEGER:
            printf("%lld", (long long)wr_column_int64(stmt, i));
            break;
        case WR_FLOAT: {
            char num[64];
            sqlite3_snprintf(sizeof num, num, "%!.20g",
                             wr_column_double(stmt, i));
            fputs(num, stdout);
            break;
        }
        case WR_BLOB: {
            const unsigned char *b = wr_column_blob(stmt, i);
            int n = wr_column_bytes(stmt, i);
            fputs("X'", stdout);
            for (int k = 0; k < n; k++) {
                printf("%02X", b[k]);
            }
            fputc('\'', stdout);
            break;
        }
        default: {
            char *q = sqlite3_mprintf("%Q", wr_column_text(stmt, i));
            fputs(q != NULL ? q : "NULL", stdout);
            sqlite3_free(q);
            break;
        }
    }
}

/* Run @sql and gather its rows (for the dot commands, which print in
 * their own way). Returns WR_OK, or the error (reported). */
static int query_all(struct session *s,
                     const char *sql,
                     struct format_result *r)
{
    wr_stmt *stmt = NULL;
    int rv = wr_prepare(s->db, sql, -1, &stmt, NULL);

    memset(r, 0, sizeof *r);
    if (rv == WR_OK && stmt != NULL) {
        rv = gather(stmt, r);
    }
    wr_finalize(stmt);
    if (rv != WR_OK) {
        failed(s, rv);
        format_result_close(r);
    }
    return rv;
}

/* Print column @col of every row of @sql, one per line, adding @suffix. */
static void print_column(struct session *s,
                         const char *sql,
                         unsigned col,
                         const char *suffix)
{
    struct format_result r;

    if (query_all(s, sql, &r) != WR_OK) {
        return;
    }
    for (size_t i = 0; i < r.n_rows && col < r.n_cols; i++) {
        const struct format_cell *c = &r.cells[i * r.n_cols + col];
        printf("%s%s\n", c->text != NULL ? c->text : "", suffix);
    }
    format_result_close(&r);
}

/* .dump: the schema and every table's rows as SQL, like the sqlite3
 * shell's, read at the session's level. */
static int dump(struct session *s)
{
    struct format_result schema;
    int rv;

    rv = query_all(s,
                   "SELECT type, name, sql FROM sqlite_schema WHERE sql IS "
                   "NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY "
                   "type = 'table' DESC, rowid",
                   &schema);
    if (rv != WR_OK) {
        return rv;
    }
    puts("PRAGMA foreign_keys=OFF;");
    puts("BEGIN TRANSACTION;");
    for (size_t k = 0; k < schema.n_rows && rv == WR_OK; k++) {
        const struct format_cell *row = &schema.cells[k * 3];
        char *select;
        wr_stmt *rows = NULL;

        printf("%s;\n", row[2].text);
        if (strcmp(row[0].text, "table") != 0) {
            continue;
        }
        select = sqlite3_mprintf("SELECT * FROM \"%w\"", row[1].text);
        rv = select != NULL ? wr_prepare(s->db, select, -1, &rows, NULL)
                            : WR_NOMEM;
        sqlite3_free(select);
        while (rv == WR_OK && (rv = wr_step(rows)) == WR_ROW) {
            char *q = sqlite3_mprintf("INSERT INTO \"%w\" VALUES(",
                                      row[1].text);
            fputs(q != NULL ? q : "", stdout);
            sqlite3_free(q);
            for (int i = 0; i < wr_column_count(rows); i++) {
                if (i > 0) {
                    fputc(',', stdout);
                }
                print_literal(rows, i);
            }
            puts(");");
            rv = WR_OK;
        }
        wr_finalize(rows);
        if (rv == WR_DONE) {
            rv = WR_OK;
        }
    }
    format_result_close(&schema);
    if (rv != WR_OK) {
        failed(s, rv);
        return rv;
    }
    puts("COMMIT;");
    return WR_OK;
}

static bool on_off(const char *arg, bool *out)
{
    if (arg != NULL && (strcmp(arg, "on") == 0 || strcmp(arg, "1") == 0)) {
        *out = true;
        return true;
    }
    if (arg != NULL && (strcmp(arg, "off") == 0 || strcmp(arg, "0") == 0)) {
        *out = false;
        return true;
    }
    return false;
}

static void usage_error(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void usage_error(struct session *s, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "Error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (s->worst < EXIT_FAILED) {
        s->worst = EXIT_FAILED;
    }
}

/* Run dot command @line (without its newline). Returns false on .quit. */
static bool dot_command(struct session *s, char *line)
{
    char *args[4] = {NULL};
    int n = 0;
    char *save = NULL;

    for (char *w = strtok_r(line + 1, " \t", &save); w != NULL && n < 4;
         w = strtok_r(NULL, " \t", &save)) {
        args[n++] = w;
    }
    if (n == 0) {
        usage_error(s, "empty dot command; .help lists them");
        return true;
    }
    const char *cmd = args[0];
    if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
        return false;
    } else if (strcmp(cmd, "help") == 0) {
        fputs(help_text, stdout);
    } else if (strcmp(cmd, "mode") == 0) {
        if (n < 2) {
            printf("%s\n", format_mode_name(s->mode));
        } else if (!format_parse_mode(args[1], &s->mode)) {
            usage_error(s, "unknown mode \"%s\": table, csv, json or line",
                        args[1]);
        }
    } else if (strcmp(cmd, "headers") == 0) {
        if (!on_off(args[1], &s->headers)) {
            usage_error(s, ".headers takes on or off");
        }
    } else if (strcmp(cmd, "timer") == 0) {
        if (!on_off(args[1], &s->timer)) {
            usage_error(s, ".timer takes on or off");
        }
    } else if (strcmp(cmd, "consistency") == 0) {
        int level;
        if (n < 2) {
            printf("(set with .consistency LEVEL; default is linearizable)\n");
        } else if (!parse_level(args[1], &level)) {
            usage_error(s,
                        "unknown level \"%s\": default, none, weak, "
                        "linearizable or strong",
                        args[1]);
        } else if (wr_set_consistency(s->db, level,
                                      n > 2 ? strtoull(args[2], NULL, 10)
                                            : 0) != WR_OK) {
            failed(s, WR_INVALID);
        }
    } else if (strcmp(cmd, "bookmark") == 0) {
        if (n > 1) {
            wr_set_bookmark(s->db, strtoull(args[1], NULL, 10));
        } else {
            printf("%llu\n", (unsigned long long)wr_bookmark(s->db));
        }
    } else if (strcmp(cmd, "nodes") == 0 || strcmp(cmd, "leader") == 0) {
        int code = show_nodes(s, strcmp(cmd, "leader") == 0);
        if (code > s->worst) {
            s->worst = code;
        }
    } else if (strcmp(cmd, "tables") == 0) {
        print_column(s,
                     "SELECT name FROM sqlite_schema WHERE type IN ('table', "
                     "'view') AND name NOT LIKE 'sqlite_%' ORDER BY 1",
                     0, "");
    } else if (strcmp(cmd, "schema") == 0) {
        char *sql = sqlite3_mprintf(
            "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name "
            "NOT LIKE 'sqlite_%%' AND (%Q IS NULL OR tbl_name = %Q) ORDER "
            "BY rowid",
            args[1], args[1]);
        if (sql != NULL) {
            print_column(s, sql, 0, ";");
        }
        sqlite3_free(sql);
    } else if (strcmp(cmd, "dump") == 0) {
        dump(s);
    } else if (strcmp(cmd, "read") == 0) {
        FILE *f;
        if (n < 2) {
            usage_error(s, ".read takes a file name");
        } else if (s->read_depth >= MAX_READ_DEPTH) {
            usage_error(s, ".read: nested too deep at \"%s\"", args[1]);
        } else if ((f = fopen(args[1], "r")) == NULL) {
            usage_error(s, ".read: cannot open \"%s\"", args[1]);
        } else {
            bool interactive = s->interactive;
            s->interactive = false;
            s->read_depth++;
            process_text(s, f, args[1]);
            s->read_depth--;
            s->interactive = interactive;
            fclose(f);
        }
    } else {
        usage_error(s, "unknown command \".%s\"; .help lists them", cmd);
    }
    return true;
}

/* Append @line and a newline to the pending text. */
static bool append(char **pending, size_t *len, const char *line)
{
    size_t n = strlen(line);
    char *grown = realloc(*pending, *len + n + 2);

    if (grown == NULL) {
        return false;
    }
    memcpy(grown + *len, line, n);
    grown[*len + n] = '\n';
    grown[*len + n + 1] = '\0';
    *pending = grown;
    *len += n + 1;
    return true;
}

/* Read the next line: with libedit when interactive, else from @in. The
 * caller frees it; NULL at the end. */
static char *next_line(struct session *s, FILE *in, bool continuation)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (s->interactive) {
        line = readline(continuation ? "   ...> " : "walraft> ");
        if (line != NULL && line[0] != '\0') {
            add_history(line);
        }
        return line;
    }
    n = getline(&line, &cap, in);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') {
        line[n - 1] = '\0';
    }
    return line;
}

/* Run what @in holds (or what is typed, when interactive) until its end
 * or .quit. Returns false on .quit. */
static bool process_text(struct session *s, FILE *in, const char *name)
{
    char *pending = NULL;
    size_t len = 0;
    bool go_on = true;
    char *line;

    while (go_on && (line = next_line(s, in, len > 0)) != NULL) {
        if (len == 0) {
            const char *p = line;
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            if (*p == '.') {
                go_on = dot_command(s, (char *)p);
                free(line);
                continue;
            }
            if (*p == '\0') {
                free(line);
                continue;
            }
        }
        if (!append(&pending, &len, line)) {
            free(line);
            fprintf(stderr, "Error: out of memory\n");
            s->worst = EXIT_FAILED;
            break;
        }
        free(line);
        if (sqlite3_complete(pending)) {
            run_sql(s, pending, 0, NULL);
            len = 0;
            pending[0] = '\0';
        }
    }
    if (len > 0) {
        fprintf(stderr, "Error: %s ends inside a statement: %s\n", name,
                pending);
        s->worst = s->worst > EXIT_FAILED ? s->worst : EXIT_FAILED;
    }
    free(pending);
    return go_on;
}

/*
 * The commands.
 */

static int open_session(struct session *s,
                        const char *addresses,
                        const char *database,
                        int level)
{
    struct wr_options opts;
    int rv;

    memset(s, 0, sizeof *s);
    s->addresses = addresses;
    s->database = database;
    s->mode = FORMAT_TABLE;
    s->headers = true;
    memset(&opts, 0, sizeof opts);
    opts.database = database;
    opts.consistency = level;
    /* A person waits for an answer: give up on a cluster sooner than the
     * library's default. */
    opts.failover_timeout_ms = 10000;
    rv = wr_open(addresses, &opts, &s->db);
    if (rv != WR_OK) {
        fprintf(stderr, "Error: cannot use the addresses \"%s\": %s\n",
                addresses, wr_errstr(rv));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void history_path(char *path, size_t size)
{
    const char *home = getenv("HOME");
    snprintf(path, size, "%s/.walraft_history", home != NULL ? home : ".");
}

int shell_main(int argc, char **argv)
{
    const char *addresses = default_addresses();
    const char *database = "main";
    bool have_db = false;
    struct session s;
    char history[4096];
    int rv;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            addresses = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            printf("usage: walraft shell [-c ADDRS] [DB]\n\n%s", help_text);
            return EXIT_OK;
        } else if (argv[i][0] != '-' && !have_db) {
            database = argv[i];
            have_db = true;
        } else {
            fprintf(stderr, "usage: walraft shell [-c ADDRS] [DB]\n");
            return EXIT_USAGE;
        }
    }
    rv = open_session(&s, addresses, database, WR_LEVEL_DEFAULT);
    if (rv != EXIT_OK) {
        return rv;
    }
    s.interactive = isatty(0);
    if (s.interactive) {
        history_path(history, sizeof history);
        using_history();
        read_history(history);
        printf("walraft shell: database \"%s\" on %s. Enter \".help\" for "
               "usage hints.\n",
               database, addresses);
    }
    process_text(&s, stdin, "the input");
    if (s.interactive) {
        write_history(history);
        putchar('\n');
    }
    wr_close(s.db);
    return s.interactive ? EXIT_OK : s.worst;
}

/* `walraft exec` and `walraft query`. */
static int one_statement(int argc, char **argv, bool query)
{
    const char *addresses = default_addresses();
    const char *database = "main";
    enum format_mode mode = FORMAT_TABLE;
    int level = WR_LEVEL_DEFAULT;
    const char *sql = NULL;
    struct session s;
    int i;
    int rv;

    for (i = 1; i < argc && sql == NULL; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: walraft %s [-c ADDRS] [--db DB] [--consistency "
                   "LEVEL] [--format table|csv|json|line] SQL [ARGS...]\n",
                   argv[0]);
            return EXIT_OK;
        } else if (strcmp(a, "-c") == 0 && v != NULL) {
            addresses = v;
            i++;
        } else if (strcmp(a, "--db") == 0 && v != NULL) {
            database = v;
            i++;
        } else if (strcmp(a, "--consistency") == 0 && v != NULL) {
            if (!parse_level(v, &level)) {
                fprintf(stderr, "walraft %s: unknown level \"%s\"\n", argv[0],
                        v);
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--format") == 0 && v != NULL) {
            if (!format_parse_mode(v, &mode)) {
                fprintf(stderr, "walraft %s: unknown format \"%s\"\n",
                        argv[0], v);
                return EXIT_USAGE;
            }
            i++;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "walraft %s: unknown or incomplete flag %s\n",
                    argv[0], a);
            return EXIT_USAGE;
        } else {
            sql = a;
        }
    }
    if (sql == NULL) {
        fprintf(stderr, "usage: walraft %s [-c ADDRS] [--db DB] "
                        "[--consistency LEVEL] [--format table|csv|json|line] "
                        "SQL [ARGS...]\n",
                argv[0]);
        return EXIT_USAGE;
    }
    rv = open_session(&s, addresses, database, level);
    if (rv != EXIT_OK) {
        return rv;
    }
    s.mode = mode;
    rv = run_sql(&s, sql, argc - i, argv + i);
    if (rv == WR_OK && !query && mode == FORMAT_JSON) {
        printf("{\"changes\": %lld, \"last_insert_id\": %lld, "
               "\"bookmark\": %llu}\n",
               (long long)wr_changes(s.db),
               (long long)wr_last_insert_rowid(s.db),
               (unsigned long long)wr_bookmark(s.db));
    } else if (rv == WR_OK && !query) {
        printf("%lld row(s) changed, last insert rowid %lld, bookmark %llu\n",
               (long long)wr_changes(s.db),
               (long long)wr_last_insert_rowid(s.db),
               (unsigned long long)wr_bookmark(s.db));
    }
    wr_close(s.db);
    return rv == WR_OK ? EXIT_OK : s.worst;
}

int exec_main(int argc, char **argv)
{
    return one_statement(argc, argv, false);
}

int query_main(int argc, char **argv)
{
    return one_statement(argc, argv, true);
}
