/*
 * faultfs: a passthrough FUSE filesystem that fails chosen operations, so
 * the process tests can hand a real walraftd an EIO from raft_uv's segments
 * or SQLite's database files (this machine has /dev/fuse but no
 * device-mapper, so dm-flakey is not available).
 *
 *   faultfs BACKING_DIR MOUNTPOINT CONTROL_FILE [fuse options, e.g. -f]
 *
 * Every operation on MOUNTPOINT is done on BACKING_DIR, except those that
 * match a rule of CONTROL_FILE, which fail with the rule's error and do
 * nothing. The file is read again whenever its inode, size or mtime
 * changes (write a new file and rename it over the old one to change the
 * rules); a missing or empty file means no faults. One rule per line:
 *
 *   ERROR OP PATTERN       e.g.  eio write raft/open-*
 *
 *   ERROR    eio, enospc, edquot, erofs, eacces or eperm; or drop (write
 *            and fsync only): report success and do nothing, a disk that
 *            loses acknowledged writes, to check that a test notices
 *   OP       open, create, read, write, fsync (fsync and fdatasync of a
 *            file), fsyncdir, fallocate, truncate (truncate and
 *            ftruncate), rename (either name matching), unlink, mkdir,
 *            rmdir, readdir, statfs, getattr, utimens, chmod, chown, or *
 *   PATTERN  fnmatch(3) of the path relative to the mount root, without
 *            FNM_PATHNAME, so "*" matches every path and "raft/" followed
 *            by "*" every file under raft/; the root itself is "."
 *
 * Blank lines and lines starting with # are ignored. Each injected fault is
 * logged on stderr as "faultfs: fault N: OP PATH: EIO", and the total when
 * the filesystem is unmounted.
 *
 * O_DIRECT. raft_uv opens its segments with O_DIRECT (after probing for it)
 * and submits them with Linux AIO. The kernel's FUSE client accepts an
 * O_DIRECT open and sends every such read and write straight to us, without
 * its page cache; the flag is also honoured by setting direct_io on that
 * open file. It is stripped from the open of the backing file: the buffers
 * libfuse hands us carry no alignment guarantee, so an O_DIRECT backing fd
 * would fail with EINVAL on some writes, and durability is what
 * fsync/O_DSYNC give, which are passed through. Files opened without
 * O_DIRECT keep the page cache, which the node's shared read-only mmap of
 * its database files needs.
 *
 * Locks. SQLite's unix VFS takes POSIX advisory locks on the database
 * file. No lock operation is implemented, so the kernel keeps those locks
 * itself, which is exact while one process uses the mount (walraftd's
 * shared-memory index is in memory, so there is no -shm file).
 */
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

struct rule {
    int error;
    char op[16];
    char pattern[256];
};

struct faultfs {
    int root;            /* the backing directory */
    const char *control; /* path of the control file */
    pthread_mutex_t mutex; /* guards what follows */
    struct stat stamp;   /* the control file as last read */
    bool have_stamp;
    struct rule *rules;
    size_t n_rules;
    unsigned long faults;
};

/* The "error" of a drop rule, and what fault() returns for it. */
#define DROP (-1)
#define DROPPED 1

static const struct {
    const char *name;
    int error;
} errors[] = {
    {"eio", EIO},     {"enospc", ENOSPC}, {"edquot", EDQUOT}, {"erofs", EROFS},
    {"eacces", EACCES}, {"eperm", EPERM}, {"drop", DROP},
};

static const char *ops[] = {
    "open",    "create",   "read",  "write",   "fsync",  "fsyncdir",
    "fallocate", "truncate", "rename", "unlink", "mkdir", "rmdir",
    "readdir", "statfs",   "getattr", "utimens", "chmod", "chown", "*",
};

static struct faultfs *fs_get(void)
{
    return fuse_get_context()->private_data;
}

/* Parse one line into @r; false (with a message on stderr) if it is not a
 * rule. */
static bool rule_parse(const char *line, struct rule *r)
{
    char error[16];
    bool found = false;

    if (sscanf(line, "%15s %15s %255s", error, r->op, r->pattern) != 3) {
        fprintf(stderr, "faultfs: ignoring malformed rule: %s\n", line);
        return false;
    }
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++) {
        if (strcmp(error, errors[i].name) == 0) {
            r->error = errors[i].error;
            found = true;
        }
    }
    if (!found) {
        fprintf(stderr, "faultfs: ignoring rule with unknown error: %s\n",
                line);
        return false;
    }
    if (r->error == DROP && strcmp(r->op, "write") != 0 &&
        strcmp(r->op, "fsync") != 0) {
        fprintf(stderr,
                "faultfs: ignoring drop rule not on write or fsync: %s\n",
                line);
        return false;
    }
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (strcmp(r->op, ops[i]) == 0) {
            return true;
        }
    }
    fprintf(stderr, "faultfs: ignoring rule with unknown operation: %s\n",
            line);
    return false;
}

/* Read the control file into fs->rules. Called with the mutex held. */
static void rules_load(struct faultfs *fs)
{
    FILE *f = fopen(fs->control, "r");
    char line[512];
    struct rule r;

    fs->n_rules = 0;
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line + strspn(line, " \t");
        line[strcspn(line, "\r\n")] = '\0';
        if (*p == '\0' || *p == '#' || !rule_parse(p, &r)) {
            continue;
        }
        struct rule *more =
            realloc(fs->rules, (fs->n_rules + 1) * sizeof *fs->rules);
        if (more == NULL) {
            fprintf(stderr, "faultfs: out of memory reading the rules\n");
            break;
        }
        fs->rules = more;
        fs->rules[fs->n_rules++] = r;
    }
    fclose(f);
    fprintf(stderr, "faultfs: %zu rule(s) in force\n", fs->n_rules);
}

static bool stamp_same(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Whether @op on @path (and @path2, for a rename) must fail: 0, the error
 * to return, negated as FUSE wants it, or DROPPED (write and fsync only). */
static int fault(const char *op, const char *path, const char *path2)
{
    struct faultfs *fs = fs_get();
    struct stat st;
    const char *rel = path == NULL ? "" : path[1] == '\0' ? "." : path + 1;
    const char *rel2 = path2 == NULL ? NULL : path2 + 1;
    int error = 0;

    pthread_mutex_lock(&fs->mutex);
    if (stat(fs->control, &st) != 0) {
        memset(&st, 0, sizeof st);
    }
    if (!fs->have_stamp || !stamp_same(&st, &fs->stamp)) {
        fs->stamp = st;
        fs->have_stamp = true;
        rules_load(fs);
    }
    for (size_t i = 0; i < fs->n_rules && error == 0; i++) {
        const struct rule *r = &fs->rules[i];
        if (strcmp(r->op, "*") != 0 && strcmp(r->op, op) != 0) {
            continue;
        }
        if (fnmatch(r->pattern, rel, 0) == 0 ||
            (rel2 != NULL && fnmatch(r->pattern, rel2, 0) == 0)) {
            error = r->error;
        }
    }
    if (error != 0) {
        fs->faults++;
        fprintf(stderr, "faultfs: fault %lu: %s %s%s%s: %s\n", fs->faults, op,
                rel, rel2 != NULL ? " -> " : "", rel2 != NULL ? rel2 : "",
                error == DROP ? "dropped" : strerrorname_np(error));
    }
    pthread_mutex_unlock(&fs->mutex);
    return error == DROP ? DROPPED : -error;
}

/* The backing path of @path, relative to fs->root. */
static const char *rel_path(const char *path)
{
    return path[1] == '\0' ? "." : path + 1;
}

/* errno, negated, as FUSE wants it; and 0 for @rv >= 0. */
static int result(int rv)
{
    return rv < 0 ? -errno : 0;
}

static int fs_getattr(const char *path, struct stat *st,
                      struct fuse_file_info *fi)
{
    int rv = fault("getattr", path, NULL);
    if (rv != 0) {
        return rv;
    }
    if (fi != NULL) {
        return result(fstat((int)fi->fh, st));
    }
    return result(
        fstatat(fs_get()->root, rel_path(path), st, AT_SYMLINK_NOFOLLOW));
}

static int fs_access(const char *path, int mask)
{
    return result(faccessat(fs_get()->root, rel_path(path), mask, 0));
}

static int fs_mkdir(const char *path, mode_t mode)
{
    int rv = fault("mkdir", path, NULL);
    return rv != 0 ? rv : result(mkdirat(fs_get()->root, rel_path(path), mode));
}

static int fs_unlink(const char *path)
{
    int rv = fault("unlink", path, NULL);
    return rv != 0 ? rv : result(unlinkat(fs_get()->root, rel_path(path), 0));
}

static int fs_rmdir(const char *path)
{
    int rv = fault("rmdir", path, NULL);
    return rv != 0 ? rv
                   : result(unlinkat(fs_get()->root, rel_path(path),
                                     AT_REMOVEDIR));
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
    int rv = fault("rename", from, to);
    int root = fs_get()->root;
    if (rv != 0) {
        return rv;
    }
    return result(
        renameat2(root, rel_path(from), root, rel_path(to), flags));
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int rv = fault("chmod", path, NULL);
    if (rv != 0) {
        return rv;
    }
    if (fi != NULL) {
        return result(fchmod((int)fi->fh, mode));
    }
    return result(fchmodat(fs_get()->root, rel_path(path), mode, 0));
}

static int fs_chown(const char *path, uid_t uid, gid_t gid,
                    struct fuse_file_info *fi)
{
    int rv = fault("chown", path, NULL);
    if (rv != 0) {
        return rv;
    }
    if (fi != NULL) {
        return result(fchown((int)fi->fh, uid, gid));
    }
    return result(fchownat(fs_get()->root, rel_path(path), uid, gid,
                           AT_SYMLINK_NOFOLLOW));
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    int rv = fault("truncate", path, NULL);
    int fd;
    if (rv != 0) {
        return rv;
    }
    if (fi != NULL) {
        return result(ftruncate((int)fi->fh, size));
    }
    fd = openat(fs_get()->root, rel_path(path), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    rv = result(ftruncate(fd, size));
    close(fd);
    return rv;
}

static int open_backing(const char *path, int flags, mode_t mode,
                        struct fuse_file_info *fi)
{
    int fd = openat(fs_get()->root, rel_path(path),
                    (flags & ~O_DIRECT) | O_CLOEXEC, mode);
    if (fd < 0) {
        return -errno;
    }
    fi->fh = (uint64_t)fd;
    fi->direct_io = (flags & O_DIRECT) != 0;
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    int rv = fault("open", path, NULL);
    return rv != 0 ? rv : open_backing(path, fi->flags, 0, fi);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int rv = fault("create", path, NULL);
    return rv != 0 ? rv : open_backing(path, fi->flags | O_CREAT, mode, fi);
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    int rv = fault("read", path, NULL);
    ssize_t n;
    if (rv != 0) {
        return rv;
    }
    n = pread((int)fi->fh, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    int rv = fault("write", path, NULL);
    ssize_t n;
    if (rv == DROPPED) {
        return (int)size;
    }
    if (rv != 0) {
        return rv;
    }
    n = pwrite((int)fi->fh, buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
    int rv = fault("statfs", path, NULL);
    return rv != 0 ? rv : result(fstatvfs(fs_get()->root, st));
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    return 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    close((int)fi->fh);
    return 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    int rv = fault("fsync", path, NULL);
    if (rv == DROPPED) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    return result(datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
    int fd = openat(fs_get()->root, rel_path(path),
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    if (fd < 0) {
        return -errno;
    }
    d = fdopendir(fd);
    if (d == NULL) {
        int error = errno;
        close(fd);
        return -error;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    return 0;
}

/* The whole directory in one call (offsets of 0), which libfuse buffers. */
static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
                      off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    DIR *d = (DIR *)(uintptr_t)fi->fh;
    struct dirent *e;
    int rv = fault("readdir", path, NULL);
    (void)off;
    (void)flags;
    if (rv != 0) {
        return rv;
    }
    rewinddir(d);
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_ino = e->d_ino;
        st.st_mode = (mode_t)e->d_type << 12;
        if (filler(buf, e->d_name, &st, 0, 0) != 0) {
            return 0;
        }
    }
    return -errno;
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    closedir((DIR *)(uintptr_t)fi->fh);
    return 0;
}

static int fs_fsyncdir(const char *path, int datasync,
                       struct fuse_file_info *fi)
{
    int fd = dirfd((DIR *)(uintptr_t)fi->fh);
    int rv = fault("fsyncdir", path, NULL);
    if (rv != 0) {
        return rv;
    }
    return result(datasync ? fdatasync(fd) : fsync(fd));
}

static int fs_utimens(const char *path, const struct timespec tv[2],
                      struct fuse_file_info *fi)
{
    int rv = fault("utimens", path, NULL);
    if (rv != 0) {
        return rv;
    }
    if (fi != NULL) {
        return result(futimens((int)fi->fh, tv));
    }
    return result(utimensat(fs_get()->root, rel_path(path), tv,
                            AT_SYMLINK_NOFOLLOW));
}

static int fs_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi)
{
    int rv = fault("fallocate", path, NULL);
    if (rv != 0) {
        return rv;
    }
    return result(fallocate((int)fi->fh, mode, off, len));
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->use_ino = 1;
    /* Operations on open files use the file's descriptor, so an unlinked
     * open file needs no hidden rename; its path (for the rules) is then
     * NULL, which matches nothing but "*". nullpath_ok stays off, or every
     * operation on an open file would come without its path. */
    cfg->hard_remove = 1;
    return fs_get();
}

static const struct fuse_operations operations = {
    .getattr = fs_getattr,
    .mkdir = fs_mkdir,
    .unlink = fs_unlink,
    .rmdir = fs_rmdir,
    .rename = fs_rename,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .truncate = fs_truncate,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .statfs = fs_statfs,
    .flush = fs_flush,
    .release = fs_release,
    .fsync = fs_fsync,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .releasedir = fs_releasedir,
    .fsyncdir = fs_fsyncdir,
    .init = fs_init,
    .access = fs_access,
    .create = fs_create,
    .utimens = fs_utimens,
    .fallocate = fs_fallocate,
};

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    struct faultfs fs;
    int rv = 1;

    if (argc < 4) {
        fprintf(stderr,
                "usage: %s BACKING_DIR MOUNTPOINT CONTROL_FILE "
                "[fuse options]\n",
                argv[0]);
        return 2;
    }
    memset(&fs, 0, sizeof fs);
    fs.control = argv[3];
    fs.root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs.root < 0) {
        fprintf(stderr, "faultfs: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    pthread_mutex_init(&fs.mutex, NULL);
    if (fuse_opt_add_arg(&args, argv[0]) != 0 ||
        fuse_opt_add_arg(&args, argv[2]) != 0) {
        goto out;
    }
    for (int i = 4; i < argc; i++) {
        if (fuse_opt_add_arg(&args, argv[i]) != 0) {
            goto out;
        }
    }
    rv = fuse_main(args.argc, args.argv, &operations, &fs);
    fprintf(stderr, "faultfs: unmounted, %lu fault(s) injected\n", fs.faults);
out:
    fuse_opt_free_args(&args);
    free(fs.rules);
    pthread_mutex_destroy(&fs.mutex);
    close(fs.root);
    return rv;
}
