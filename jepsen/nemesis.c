/*
 * The nemeses (nemesis.h). Each fault function injects its fault, holds
 * it, heals it, and records both ends in the history.
 */
#include "nemesis.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef void (*fault_fn)(struct run *r, uint64_t *rs);

static void fault_pause(struct run *r, uint64_t *rs);
static void fault_kill(struct run *r, uint64_t *rs);

static const struct {
    const char *name;
    fault_fn fault;
} nemeses[NEM_COUNT] = {
    [NEM_PAUSE] = {"pause", fault_pause},
    [NEM_KILL] = {"kill", fault_kill},
};

int nemesis_parse(const char *list, unsigned *set)
{
    char *copy = strdup(list), *save = NULL, *tok;
    int i, rv = 0;

    if (copy == NULL) {
        return -1;
    }
    *set = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL && rv == 0;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "none") == 0) {
            continue;
        }
        for (i = 0; i < NEM_COUNT && strcmp(tok, nemeses[i].name) != 0; i++) {
        }
        if (i == NEM_COUNT) {
            fprintf(stderr, "--nemesis: no nemesis \"%s\"; there are", tok);
            for (i = 0; i < NEM_COUNT; i++) {
                fprintf(stderr, " %s", nemeses[i].name);
            }
            fprintf(stderr, " and none\n");
            rv = -1;
        }
        *set |= 1u << i;
    }
    free(copy);
    return rv;
}

json_t *nemesis_names_json(unsigned set)
{
    json_t *arr = json_array();
    int i;
    for (i = 0; i < NEM_COUNT && arr != NULL; i++) {
        if (set & (1u << i)) {
            json_array_append_new(arr, json_string(nemeses[i].name));
        }
    }
    return arr;
}

void nemesis_names(unsigned set, char *buf, size_t size)
{
    size_t len = 0;
    int i;
    buf[0] = '\0';
    for (i = 0; i < NEM_COUNT && len < size; i++) {
        if (set & (1u << i)) {
            len += (size_t)snprintf(buf + len, size - len, "%s%s",
                                    len > 0 ? "," : "", nemeses[i].name);
        }
    }
    if (len == 0) {
        snprintf(buf, size, "none");
    }
}

/* Hold a fault for 2-4 s. */
static void hold(uint64_t *rs)
{
    sleep_ns(2 * NS_PER_S + (int64_t)(rnd(rs) % (2 * NS_PER_S)));
}

static void fault_pause(struct run *r, uint64_t *rs)
{
    pid_t pid = 0;
    uint64_t id = 0;
    int tries;

    for (tries = 0; tries < 10 && id == 0; tries++) {
        if ((id = find_leader(r, &pid)) == 0) {
            sleep_ns(NS_PER_S / 2);
        }
    }
    if (id == 0) {
        hist_emit(r, -1, "info", "pause", -1, NULL, "no leader found");
        return;
    }
    atomic_store(&r->paused_pid, pid);
    atomic_store(&r->faulting, true);
    if (kill(pid, SIGSTOP) != 0) {
        atomic_store(&r->paused_pid, 0);
        atomic_store(&r->faulting, false);
        hist_emit(r, -1, "info", "pause", -1, json_integer((json_int_t)id),
                  strerror(errno));
        return;
    }
    hist_emit(r, -1, "info", "pause", -1, json_integer((json_int_t)id), NULL);
    hold(rs);
    kill(pid, SIGCONT);
    atomic_store(&r->paused_pid, 0);
    hist_emit(r, -1, "info", "resume", -1, json_integer((json_int_t)id),
              NULL);
    /* Reads against the resumed node, which may still believe it leads,
     * are the point: count them as during the fault for a moment. */
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

static void fault_kill(struct run *r, uint64_t *rs)
{
    uint64_t id = 1 + rnd(rs) % (uint64_t)r->cfg->nodes;

    atomic_store(&r->faulting, true);
    hist_emit(r, -1, "info", "kill", -1, json_integer((json_int_t)id),
              node_kill(r, id) == 0 ? NULL : "walraft cluster kill failed");
    hold(rs);
    hist_emit(r, -1, "info", "restart", -1, json_integer((json_int_t)id),
              node_restart(r, id) == 0 ? NULL
                                       : "walraft cluster restart failed");
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

/* A fault lasts at most about 10 s (a restart waits for the node), so none
 * starts later than that before the end of the fault period. The enabled
 * nemeses take turns from a random first one, so that even a short run
 * has each. */
void *nemesis_main(void *arg)
{
    struct run *r = arg;
    uint64_t rs = rnd_seed(r->cfg->seed, 0xfa417);
    unsigned set = r->cfg->nemeses;
    int next = (int)(rnd(&rs) % NEM_COUNT);

    if (set == 0) {
        return NULL;
    }
    sleep_ns(3 * NS_PER_S);
    while (run_going(r) && run_now(r) + 10 * NS_PER_S < r->faults_end_ns) {
        while (!(set & (1u << next))) {
            next = (next + 1) % NEM_COUNT;
        }
        nemeses[next].fault(r, &rs);
        next = (next + 1) % NEM_COUNT;
        sleep_ns(2 * NS_PER_S + (int64_t)(rnd(&rs) % (2 * NS_PER_S)));
    }
    return NULL;
}

void nemesis_heal(struct run *r)
{
    if (atomic_load(&r->paused_pid) > 0) {
        kill(atomic_load(&r->paused_pid), SIGCONT);
    }
}
