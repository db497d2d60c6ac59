/*
 * Reading your own writes on another node: one handle writes through the
 * leader, a second handle, connected to a single (possibly lagging)
 * follower and reading at level NONE, is given the first one's bookmark
 * and so sees the write, without a round trip to the leader.
 *
 *   walraft-example-bookmark CLUSTER_ADDRESSES FOLLOWER_ADDRESS
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <walraft.h>

int main(int argc, char **argv)
{
    struct wr_options wopts = {.database = "example"};
    struct wr_options ropts = {.database = "example",
                               .consistency = WR_LEVEL_NONE};
    wr_db *writer = NULL;
    wr_db *reader = NULL;
    wr_stmt *s = NULL;
    int64_t token = (int64_t)time(NULL);
    uint64_t bookmark;
    int rc = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: %s CLUSTER_ADDRESSES FOLLOWER_ADDRESS\n",
                argv[0]);
        return 2;
    }
    if (wr_open(argv[1], &wopts, &writer) != WR_OK ||
        wr_open(argv[2], &ropts, &reader) != WR_OK) {
        fprintf(stderr, "cannot open the handles\n");
        goto out;
    }
    if (wr_exec(writer, "CREATE TABLE IF NOT EXISTS tokens (t INTEGER)",
                NULL, NULL, NULL) != WR_OK ||
        wr_prepare(writer, "INSERT INTO tokens VALUES (?)", -1, &s, NULL) !=
            WR_OK) {
        fprintf(stderr, "write: %s\n", wr_errmsg(writer));
        goto out;
    }
    wr_bind_int64(s, 1, token);
    if (wr_step(s) != WR_DONE) {
        fprintf(stderr, "write: %s\n", wr_errmsg(writer));
        goto out;
    }
    wr_finalize(s);
    s = NULL;
    bookmark = wr_bookmark(writer);
    printf("wrote %" PRId64 " at bookmark %" PRIu64 "\n", token, bookmark);

    /* The reader waits on its node for the writer's state, no more. */
    wr_set_bookmark(reader, bookmark);
    if (wr_prepare(reader, "SELECT count(*) FROM tokens WHERE t = ?", -1, &s,
                   NULL) != WR_OK) {
        goto out;
    }
    wr_bind_int64(s, 1, token);
    if (wr_step(s) != WR_ROW) {
        fprintf(stderr, "read: %s\n", wr_errmsg(reader));
        goto out;
    }
    printf("%s sees %" PRId64 " row(s) with %" PRId64
           " at bookmark %" PRIu64 "\n",
           argv[2], wr_column_int64(s, 0), token, wr_stmt_bookmark(s));
    rc = wr_column_int64(s, 0) == 1 && wr_stmt_bookmark(s) >= bookmark ? 0
                                                                       : 1;

out:
    wr_finalize(s);
    wr_close(reader);
    wr_close(writer);
    return rc;
}
