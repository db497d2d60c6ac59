/*
 * Basic CRUD with libwalraft: create a table, insert rows with bound
 * values of every type, read them back typed, update, delete.
 *
 *   walraft-example-crud 127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003
 *
 * Build it against an installed libwalraft with
 *   cc crud.c $(pkg-config --cflags --libs walraft)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <walraft.h>

static int die(wr_db *db, const char *what)
{
    fprintf(stderr, "%s: %s (%s)\n", what, wr_errmsg(db),
            wr_error_definite(db) ? "definite" : "may have happened");
    wr_close(db);
    return 1;
}

int main(int argc, char **argv)
{
    struct wr_options opts = {.database = "example"};
    const unsigned char bytes[4] = {0xde, 0x00, 0xbe, 0xef};
    wr_db *db;
    wr_stmt *s;
    int rv;

    if (argc != 2) {
        fprintf(stderr, "usage: %s ADDRESS[,ADDRESS...]\n", argv[0]);
        return 2;
    }
    if (wr_open(argv[1], &opts, &db) != WR_OK) {
        fprintf(stderr, "cannot open a handle on %s\n", argv[1]);
        return 1;
    }

    /* Create. */
    if (wr_exec(db,
                "DROP TABLE IF EXISTS pets;"
                "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT,"
                "                   weight REAL, photo BLOB, note TEXT)",
                NULL, NULL, NULL) != WR_OK) {
        return die(db, "create");
    }
    if (wr_prepare(db, "INSERT INTO pets (name, weight, photo, note) "
                       "VALUES (?, ?, ?, ?)",
                   -1, &s, NULL) != WR_OK) {
        return die(db, "prepare");
    }
    wr_bind_text(s, 1, "Rex", -1);
    wr_bind_double(s, 2, 31.5);
    wr_bind_blob(s, 3, bytes, sizeof bytes);
    wr_bind_null(s, 4);
    if (wr_step(s) != WR_DONE) {
        return die(db, "insert Rex");
    }
    printf("inserted Rex as row %" PRId64 "\n", wr_last_insert_rowid(db));
    wr_reset(s);
    wr_bind_text(s, 1, "Tom", -1);
    wr_bind_double(s, 2, 4.25);
    wr_bind_null(s, 3);
    wr_bind_text(s, 4, "a cat", -1);
    if (wr_step(s) != WR_DONE) {
        return die(db, "insert Tom");
    }
    wr_finalize(s);

    /* Update and delete. */
    if (wr_exec(db, "UPDATE pets SET weight = weight + 1 WHERE name = 'Rex'",
                NULL, NULL, NULL) != WR_OK) {
        return die(db, "update");
    }
    printf("updated %" PRId64 " row(s)\n", wr_changes(db));

    /* Read, typed. */
    if (wr_prepare(db, "SELECT id, name, weight, photo, note FROM pets "
                       "ORDER BY id",
                   -1, &s, NULL) != WR_OK) {
        return die(db, "prepare select");
    }
    while ((rv = wr_step(s)) == WR_ROW) {
        printf("%" PRId64 " %s %.2f photo:%d bytes note:%s\n",
               wr_column_int64(s, 0), wr_column_text(s, 1),
               wr_column_double(s, 2),
               wr_column_type(s, 3) == WR_BLOB ? wr_column_bytes(s, 3) : 0,
               wr_column_type(s, 4) == WR_NULL ? "(null)"
                                               : wr_column_text(s, 4));
    }
    wr_finalize(s);
    if (rv != WR_DONE) {
        return die(db, "select");
    }

    if (wr_exec(db, "DELETE FROM pets WHERE name = 'Tom'", NULL, NULL,
                NULL) != WR_OK) {
        return die(db, "delete");
    }
    printf("deleted %" PRId64 " row(s); bookmark %" PRIu64 "\n",
           wr_changes(db), wr_bookmark(db));
    wr_close(db);
    return 0;
}
