/*
 * Preallocating raft_uv's log segments with written zeros: see prealloc.h
 * for why. This file defines posix_fallocate(3) for the whole process.
 */
#include "prealloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* Zeros written per call: 8 MiB in eight synchronous writes (raft_uv
 * opens segments with O_DSYNC). */
#define ZERO_CHUNK (1 << 20)

typedef int (*fallocate_fn)(int fd, off_t offset, off_t len);

static uint8_t zeros[ZERO_CHUNK];
static bool enabled;           /* Set once, before the loop runs. */
static unsigned long n_filled; /* Atomic. */

static int real_posix_fallocate(int fd, off_t offset, off_t len)
{
    static fallocate_fn fn;
    fallocate_fn f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);

    if (f == NULL) {
        f = (fallocate_fn)(uintptr_t)dlsym(RTLD_NEXT, "posix_fallocate");
        if (f == NULL) {
            return ENOSYS;
        }
        __atomic_store_n(&fn, f, __ATOMIC_RELEASE);
    }
    return f(fd, offset, len);
}

/* Write zeros over [@from, @to) of @fd. Returns 0 or an errno value. */
static int fill_zeros(int fd, off_t from, off_t to)
{
    while (from < to) {
        size_t n = to - from > ZERO_CHUNK ? ZERO_CHUNK : (size_t)(to - from);
        ssize_t rv = pwrite(fd, zeros, n, from);
        if (rv < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        if (rv == 0) {
            return EIO;
        }
        from += rv;
    }
    return 0;
}

/* Exported so that it takes precedence over glibc's for libraft2's calls.
 * Only the part of the range past the end of the file is written, so data
 * already there is never touched; what lies inside the file is left as
 * it is, as posix_fallocate() leaves existing blocks. */
__attribute__((visibility("default"))) int posix_fallocate(int fd,
                                                           off_t offset,
                                                           off_t len)
{
    struct stat st;
    off_t end;
    int rv;

    if (!__atomic_load_n(&enabled, __ATOMIC_ACQUIRE) || offset < 0 ||
        len <= 0 || offset > INT64_MAX - len) {
        return real_posix_fallocate(fd, offset, len);
    }
    if (fstat(fd, &st) != 0) {
        return errno;
    }
    if (!S_ISREG(st.st_mode)) {
        return real_posix_fallocate(fd, offset, len);
    }
    end = offset + len;
    if (end <= st.st_size) {
        return 0;
    }
    rv = fill_zeros(fd, offset > st.st_size ? offset : st.st_size, end);
    if (rv == 0) {
        __atomic_add_fetch(&n_filled, 1, __ATOMIC_RELAXED);
    }
    return rv;
}

void prealloc_start(void)
{
    __atomic_store_n(&enabled, true, __ATOMIC_RELEASE);
}

unsigned long prealloc_count(void)
{
    return __atomic_load_n(&n_filled, __ATOMIC_RELAXED);
}
