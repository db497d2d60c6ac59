/*
 * Destroying raft_uv's AIO contexts off the event loop: see aio_reaper.h
 * for why. This file defines syscall(3) for the whole process.
 */
#include "aio_reaper.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Contexts waiting for the thread. raft_uv closes one segment at a time,
 * so more than one or two never wait; past this the caller destroys its
 * context itself. */
#define REAPER_QUEUE 64

typedef long (*syscall_fn)(long number, ...);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static bool running;  /* The thread exists; guarded by lock. */
static bool stopping; /* The thread should drain and exit; guarded. */
static unsigned long queue[REAPER_QUEUE]; /* aio_context_t values. */
static unsigned n_queued;                 /* Guarded by lock. */
static unsigned long n_deferred;          /* Guarded by lock. */
static unsigned long n_reaped;            /* Guarded by lock. */

/* glibc's syscall(), looked up once. */
static syscall_fn real_syscall(void)
{
    static syscall_fn fn;
    syscall_fn f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);

    if (f == NULL) {
        f = (syscall_fn)(uintptr_t)dlsym(RTLD_NEXT, "syscall");
        __atomic_store_n(&fn, f, __ATOMIC_RELEASE);
    }
    return f;
}

static void *reaper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (n_queued == 0 && !stopping) {
            pthread_cond_wait(&wake, &lock);
        }
        if (n_queued == 0) {
            break; /* Stopping with nothing left. */
        }
        unsigned long ctx = queue[--n_queued];
        pthread_mutex_unlock(&lock);
        /* The result cannot be reported to anyone: raft_uv ignored it on
         * this path (uvWriterCleanUpAndFireCloseCb()). */
        real_syscall()(SYS_io_destroy, ctx);
        pthread_mutex_lock(&lock);
        n_reaped++;
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Queue @ctx for the thread. Returns false if the caller must destroy it
 * itself (no thread, or the queue is full). */
static bool defer(unsigned long ctx)
{
    bool ok = false;

    pthread_mutex_lock(&lock);
    if (running && !stopping && n_queued < REAPER_QUEUE) {
        queue[n_queued++] = ctx;
        n_deferred++;
        pthread_cond_signal(&wake);
        ok = true;
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

/* Exported so that it takes precedence over glibc's for libraft2's calls
 * (the executable comes first in the lookup order). Every system call has
 * at most six arguments; reading six from the list is what glibc's own
 * syscall() does with the registers. */
__attribute__((visibility("default"))) long syscall(long number, ...)
{
    long a[6];
    va_list ap;

    va_start(ap, number);
    for (int i = 0; i < 6; i++) {
        a[i] = va_arg(ap, long);
    }
    va_end(ap);
    if (number == SYS_io_destroy && defer((unsigned long)a[0])) {
        return 0;
    }
    return real_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int aio_reaper_start(void)
{
    int rv = 0;

    if (real_syscall() == NULL) {
        return ENOSYS;
    }
    pthread_mutex_lock(&lock);
    if (!running) {
        stopping = false;
        rv = pthread_create(&thread, NULL, reaper_main, NULL);
        running = rv == 0;
    }
    pthread_mutex_unlock(&lock);
    return rv;
}

void aio_reaper_stop(void)
{
    pthread_mutex_lock(&lock);
    if (!running) {
        pthread_mutex_unlock(&lock);
        return;
    }
    stopping = true;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);
    pthread_mutex_lock(&lock);
    running = false;
    stopping = false;
    pthread_mutex_unlock(&lock);
}

unsigned long aio_reaper_deferred(void)
{
    unsigned long n;
    pthread_mutex_lock(&lock);
    n = n_deferred;
    pthread_mutex_unlock(&lock);
    return n;
}

unsigned long aio_reaper_reaped(void)
{
    unsigned long n;
    pthread_mutex_lock(&lock);
    n = n_reaped;
    pthread_mutex_unlock(&lock);
    return n;
}
