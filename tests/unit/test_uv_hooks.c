/*
 * Unit tests of walraftd's hooks into raft_uv 0.15: its two libc
 * interpositions (node/aio_reaper.h, node/prealloc.h): io_destroy(2) made
 * through syscall(3) moves to a helper thread, and posix_fallocate(3)
 * writes zeros instead of leaving unwritten extents (this program defines
 * both functions, as walraftd does, by linking the two files); and the
 * tracer that stops on the storage errors raft_uv swallows
 * (raft/uv_watch.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "node/aio_reaper.h"
#include "node/prealloc.h"
#include "raft/uv_watch.h"

static void wait_reaped(unsigned long want)
{
    for (int i = 0; i < 5000 && aio_reaper_reaped() < want; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Before the reaper starts, io_destroy goes to the kernel (a context that
 * does not exist is refused); once it runs, the call returns 0 at once and
 * the helper thread destroys the context, which the kernel then no longer
 * knows. Other system calls pass through unchanged. */
static void io_destroy_moves_to_the_reaper(void **state)
{
    aio_context_t ctx = 0;
    unsigned long deferred;
    (void)state;

    errno = 0;
    assert_int_equal(syscall(SYS_io_destroy, (aio_context_t)12345), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(syscall(SYS_getpid), getpid());

    assert_int_equal(aio_reaper_start(), 0);
    assert_int_equal(aio_reaper_start(), 0); /* Idempotent. */
    deferred = aio_reaper_deferred();
    assert_int_equal(syscall(SYS_io_setup, 1, &ctx), 0);
    assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
    assert_int_equal(aio_reaper_deferred(), deferred + 1);
    wait_reaped(deferred + 1);
    assert_int_equal(aio_reaper_reaped(), deferred + 1);
    aio_reaper_stop();

    /* Synchronous again, and the context is gone. */
    errno = 0;
    assert_int_equal(syscall(SYS_io_destroy, ctx), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(aio_reaper_deferred(), deferred + 1);
}

/* Contexts queued when the reaper stops are destroyed before it returns. */
static void reaper_stop_drains_the_queue(void **state)
{
    aio_context_t ctx[4] = {0};
    unsigned long reaped;
    (void)state;

    assert_int_equal(aio_reaper_start(), 0);
    reaped = aio_reaper_reaped();
    for (int i = 0; i < 4; i++) {
        assert_int_equal(syscall(SYS_io_setup, 1, &ctx[i]), 0);
        assert_int_equal(syscall(SYS_io_destroy, ctx[i]), 0);
    }
    aio_reaper_stop();
    assert_int_equal(aio_reaper_reaped(), reaped + 4);
    for (int i = 0; i < 4; i++) {
        errno = 0;
        assert_int_equal(syscall(SYS_io_destroy, ctx[i]), -1);
        assert_int_equal(errno, EINVAL);
    }
}

static int temp_file(char *path, size_t size)
{
    const char *dir = getenv("WR_TEST_TMP");
    int fd;

    if (dir == NULL || dir[0] == '\0') {
        dir = "/tmp";
    }
    mkdir(dir, 0700);
    snprintf(path, size, "%s/test_uv_hooks.XXXXXX", dir);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

/* True if any extent of @fd is unwritten (FIEMAP); false also when the file
 * system cannot say. */
static bool has_unwritten_extent(int fd)
{
    size_t size = sizeof(struct fiemap) + 64 * sizeof(struct fiemap_extent);
    struct fiemap *fm = calloc(1, size);
    bool unwritten = false;

    assert_non_null(fm);
    fm->fm_length = ~0ull;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = 64;
    if (ioctl(fd, FS_IOC_FIEMAP, fm) == 0) {
        for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
            if (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN) {
                unwritten = true;
            }
        }
    }
    free(fm);
    return unwritten;
}

/* Once started, posix_fallocate() extends the file with written zeros:
 * the size is what was asked for, the bytes already there stay, the rest
 * reads as zeros, the blocks are allocated and none is left unwritten (so
 * raft_uv's RWF_NOWAIT appends need no extent conversion). A range inside
 * the file changes nothing. */
static void fallocate_writes_zeros(void **state)
{
    char path[PATH_MAX];
    size_t size = 3 * 1024 * 1024 + 4096;
    unsigned long before = prealloc_count();
    uint8_t *got;
    struct stat st;
    int fd;
    (void)state;

    fd = temp_file(path, sizeof path);
    assert_int_equal(write(fd, "hello", 5), 5);
    prealloc_start();
    assert_int_equal(posix_fallocate(fd, 0, (off_t)size), 0);
    assert_int_equal(prealloc_count(), before + 1);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, (off_t)size);
    assert_true((size_t)st.st_blocks * 512 >= size);
    assert_false(has_unwritten_extent(fd));

    got = malloc(size);
    assert_non_null(got);
    assert_int_equal(pread(fd, got, size, 0), (ssize_t)size);
    assert_memory_equal(got, "hello", 5);
    for (size_t i = 5; i < size; i++) {
        if (got[i] != 0) {
            fail_msg("byte %zu is %u, not 0", i, got[i]);
        }
    }
    assert_int_equal(posix_fallocate(fd, 4096, 4096), 0);
    assert_int_equal(prealloc_count(), before + 1);
    free(got);
    close(fd);
    unlink(path);
}

static void record_fatal(void *arg, const char *msg)
{
    snprintf(arg, 256, "%s", msg);
}

/* The traces of failures raft_uv only flags stop the node; its other
 * traces, failures that reach a callback included, do not. */
static void watch_stops_on_swallowed_errors(void **state)
{
    const char *fatal[] = {
        "truncate segment open-3: rename: i/o error",
        "unlink segment 0000000000000001-0000000000000100: i/o error",
        "sync data directory: i/o error",
        "truncate index 42: i/o error",
    };
    const char *benign[] = {
        "finalize open-3 into 0000000000000001-0000000000000100",
        "truncate 1-100 at 42",
        "write: i/o error",
        "connection available -> write message",
        "",
    };
    struct uv_watch w;
    char got[256] = "";
    (void)state;

    uv_watch_init(&w);
    w.on_fatal = record_fatal;
    w.on_fatal_arg = got;
    assert_true(w.tracer.enabled);
    for (size_t i = 0; i < sizeof benign / sizeof *benign; i++) {
        assert_false(uv_watch_is_fatal(benign[i]));
        w.tracer.emit(&w.tracer, "uv.c", 1, benign[i]);
        assert_string_equal(got, "");
    }
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++) {
        assert_true(uv_watch_is_fatal(fatal[i]));
        w.tracer.emit(&w.tracer, "uv_finalize.c", 68, fatal[i]);
        assert_string_equal(got, fatal[i]);
        got[0] = '\0';
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(io_destroy_moves_to_the_reaper),
        cmocka_unit_test(reaper_stop_drains_the_queue),
        cmocka_unit_test(fallocate_writes_zeros),
        cmocka_unit_test(watch_stops_on_swallowed_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
