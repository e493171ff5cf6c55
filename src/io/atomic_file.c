/* Atomic file replacement: an anonymous (or hidden) temporary file + fsync
 * + rename + directory fsync (see atomic_file.h). */
#define _GNU_SOURCE /* O_TMPFILE (Linux); everything else here is POSIX */
#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Attempts at finding an unused temporary name before giving up; names only
 * collide with leftovers of crashed runs or concurrent writers. */
#define ATOMIC_FILE_NAME_ATTEMPTS 1000
/* Largest single write(2): Linux transfers at most ~2 GiB per call anyway. */
#define ATOMIC_FILE_MAX_CHUNK ((size_t)1 << 30)
/* Room for the host name in temporary names. */
#define ATOMIC_FILE_HOST_SIZE 65

void (*atomic_file_test_hook)(atomic_file_stage stage);

static atomic_uint temp_name_counter;

static void at_stage(atomic_file_stage stage)
{
    if (atomic_file_test_hook != NULL)
        atomic_file_test_hook(stage);
}

static char *copy_string(const char *s, size_t length)
{
    char *copy = malloc(length + 1);
    if (copy != NULL) {
        memcpy(copy, s, length);
        copy[length] = '\0';
    }
    return copy;
}

/* The directory part of `path` ("." when there is none, "/" for "/x"). */
static char *directory_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return copy_string(".", 1);
    if (slash == path)
        return copy_string("/", 1);
    return copy_string(path, (size_t)(slash - path));
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL ? path : slash + 1;
}

/* This machine's name, for temporary names: a writer is only ever judged
 * dead by a process on the same machine (the directory may be shared). */
static void host_name(char host[ATOMIC_FILE_HOST_SIZE])
{
    if (gethostname(host, ATOMIC_FILE_HOST_SIZE) != 0 || host[0] == '\0')
        snprintf(host, ATOMIC_FILE_HOST_SIZE, "unknown");
    host[ATOMIC_FILE_HOST_SIZE - 1] = '\0';
    for (char *c = host; *c != '\0'; c++) {
        if (*c == '/' || *c < 0x21 || *c > 0x7E)
            *c = '_';
    }
}

/* Parses "<pid>-<n>" (decimal, nothing after); false otherwise. */
static bool parse_pid_and_counter(const char *text, long *pid)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '-' || value <= 0 || errno != 0)
        return false;
    const char *counter = end + 1;
    if (*counter == '\0')
        return false;
    for (const char *c = counter; *c != '\0'; c++) {
        if (*c < '0' || *c > '9')
            return false;
    }
    *pid = value;
    return true;
}

/* Removes the temporaries "<prefix><pid>-<n>" in `dir_path` whose writer, a
 * process of this machine, no longer exists (killed mid-save). A live or
 * unknowable writer's file (EPERM: another user's process) is kept.
 * Errors: NO_MEMORY only (the scan is otherwise best effort: a directory
 * that cannot be listed is left alone). */
static diffuse_status remove_stale_temporaries(const char *dir_path, const char *prefix,
                                               diffuse_error *err)
{
    DIR *dir = opendir(dir_path);
    int open_errno = errno;
    if (dir == NULL)
        return open_errno == ENOMEM
                   ? diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory listing a directory")
                   : DIFFUSE_OK;
    size_t prefix_length = strlen(prefix);
    long self = (long)getpid();
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
        long pid;
        if (strncmp(entry->d_name, prefix, prefix_length) != 0 ||
            !parse_pid_and_counter(entry->d_name + prefix_length, &pid) || pid == self)
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            (void)unlinkat(dirfd(dir), entry->d_name, 0);
    }
    closedir(dir);
    return DIFFUSE_OK;
}

/* Tries "<prefix><pid>-<n>" for successive n until `claim` succeeds or
 * fails with another error than EEXIST; file->temp_path is the name. */
static int claim_temp_name(atomic_file *file, const char *prefix,
                           int (*claim)(atomic_file *file))
{
    for (int attempt = 0; attempt < ATOMIC_FILE_NAME_ATTEMPTS; attempt++) {
        unsigned n = atomic_fetch_add(&temp_name_counter, 1u);
        snprintf(file->temp_path, file->temp_size, "%s%ld-%u", prefix, (long)getpid(), n);
        if (claim(file) == 0)
            return 0;
        if (errno != EEXIST && errno != EINTR)
            return -1;
    }
    return -1;
}

/* Creates the named temporary with O_EXCL (never follows or reuses an
 * existing file) and mode 0666 & ~umask, like fopen would. mkstemp is not
 * used because it forces mode 0600 and reading the umask is not
 * thread-safe. */
static int create_named(atomic_file *file)
{
    file->fd = open(file->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    return file->fd >= 0 ? 0 : -1;
}

/* Gives the anonymous file its temporary name (through /proc: linkat with
 * AT_EMPTY_PATH needs a capability). */
static int link_anonymous(atomic_file *file)
{
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", file->fd);
    return linkat(AT_FDCWD, proc_path, AT_FDCWD, file->temp_path, AT_SYMLINK_FOLLOW);
}

/* An O_TMPFILE file in the target's directory: it has no name, so a
 * writer killed before the commit leaves nothing. Returns -1 with errno
 * set where that is not available (other kernels, file systems, no /proc);
 * the caller then uses a named temporary. */
static int open_anonymous(atomic_file *file)
{
#ifdef O_TMPFILE
    file->fd = open(file->dir_path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (file->fd < 0)
        return -1;
    char proc_path[64];
    snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", file->fd);
    if (access(proc_path, F_OK) == 0)
        return 0;
    close(file->fd);
    file->fd = -1;
    errno = EOPNOTSUPP;
    return -1;
#else
    (void)file;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* The temporary file next to `path`: anonymous where possible, otherwise
 * "<dir>/.<base>.tmp-<host>-<pid>-<n>"; stale temporaries of dead writers
 * are removed first. */
static diffuse_status create_temp(atomic_file *file, const char *path, diffuse_error *err)
{
    char host[ATOMIC_FILE_HOST_SIZE];
    host_name(host);
    const char *base = base_of(path);
    size_t dir_length = (size_t)(base - path);
    size_t prefix_size = strlen(path) + ATOMIC_FILE_HOST_SIZE + 16;
    file->temp_size = prefix_size + 32;
    file->prefix = malloc(prefix_size);
    file->temp_path = malloc(file->temp_size);
    file->dir_path = directory_of(path);
    if (file->prefix == NULL || file->temp_path == NULL || file->dir_path == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a file name");
    file->temp_path[0] = '\0';
    snprintf(file->prefix, prefix_size, "%.*s.%s.tmp-%s-", (int)dir_length, path, base, host);
    diffuse_status status = remove_stale_temporaries(file->dir_path, file->prefix + dir_length,
                                                     err);
    if (status != DIFFUSE_OK)
        return status;
    if (open_anonymous(file) == 0) {
        file->anonymous = 1;
        return DIFFUSE_OK;
    }
    if ((errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) &&
        claim_temp_name(file, file->prefix, create_named) == 0)
        return DIFFUSE_OK;
    if (errno == ENOMEM)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory creating a file");
    return diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot create a temporary file next to '%s': %s",
                        path, strerror(errno));
}

static void release_names(atomic_file *file)
{
    free(file->temp_path);
    free(file->prefix);
    free(file->dir_path);
    free(file->target_path);
    file->temp_path = NULL;
    file->prefix = NULL;
    file->dir_path = NULL;
    file->target_path = NULL;
}

diffuse_status atomic_file_begin(atomic_file *file, const char *path, diffuse_error *err)
{
    if (file == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "file must not be NULL");
    *file = (atomic_file){.fd = -1};
    if (path == NULL || path[0] == '\0')
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "path must be a non-empty string");
    size_t length = strlen(path);
    if (path[length - 1] == '/')
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT,
                            "path '%s' names a directory, not a file", path);
    file->target_path = copy_string(path, length);
    if (file->target_path == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a file name");
    diffuse_status status = create_temp(file, path, err);
    if (status != DIFFUSE_OK)
        release_names(file);
    return status;
}

diffuse_status atomic_file_write(atomic_file *file, const void *data, size_t size,
                                 diffuse_error *err)
{
    if (file == NULL || file->fd < 0)
        return diffuse_fail(err, DIFFUSE_ERROR_STATE, "atomic file is not open");
    const unsigned char *p = data;
    while (size > 0) {
        size_t chunk = size < ATOMIC_FILE_MAX_CHUNK ? size : ATOMIC_FILE_MAX_CHUNK;
        ssize_t written = write(file->fd, p, chunk);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot write '%s': %s",
                                file->target_path,
                                written < 0 ? strerror(errno) : "no progress");
        p += written;
        size -= (size_t)written;
    }
    return DIFFUSE_OK;
}

/* Makes the rename durable. File systems that cannot sync a directory
 * report EINVAL; there is nothing more to do on those. Allocates nothing:
 * after the rename, a failure must not be reported as NO_MEMORY. */
static diffuse_status sync_directory(const char *path, const char *dir, diffuse_error *err)
{
    diffuse_status status = DIFFUSE_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        status = diffuse_fail(err, DIFFUSE_ERROR_IO,
                              "'%s' was written but syncing directory '%s' failed: %s", path,
                              dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    return status;
}

/* fsync, then (anonymous file) the temporary name, then close. */
static diffuse_status finish_temp(atomic_file *file, diffuse_error *err)
{
    diffuse_status status = DIFFUSE_OK;
    if (fsync(file->fd) != 0)
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot sync the new '%s': %s",
                              file->target_path, strerror(errno));
    if (status == DIFFUSE_OK && file->anonymous) {
        if (claim_temp_name(file, file->prefix, link_anonymous) == 0)
            file->anonymous = 0; /* named now: abort removes it */
        else
            status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot name the new '%s': %s",
                                  file->target_path, strerror(errno));
    }
    /* close() reports deferred write errors (NFS, quotas): check it too. */
    int close_result = close(file->fd);
    file->fd = -1;
    if (status == DIFFUSE_OK && close_result != 0)
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot close '%s': %s", file->temp_path,
                              strerror(errno));
    return status;
}

diffuse_status atomic_file_commit(atomic_file *file, diffuse_error *err)
{
    if (file == NULL || file->fd < 0)
        return diffuse_fail(err, DIFFUSE_ERROR_STATE, "atomic file is not open");
    at_stage(ATOMIC_FILE_WRITTEN);
    diffuse_status status = finish_temp(file, err);
    if (status == DIFFUSE_OK) {
        at_stage(ATOMIC_FILE_NAMED);
        if (rename(file->temp_path, file->target_path) != 0)
            status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot rename '%s' to '%s': %s",
                                  file->temp_path, file->target_path, strerror(errno));
    }
    if (status != DIFFUSE_OK) {
        atomic_file_abort(file);
        return status;
    }
    free(file->temp_path);
    file->temp_path = NULL;
    status = sync_directory(file->target_path, file->dir_path, err);
    release_names(file);
    return status;
}

void atomic_file_abort(atomic_file *file)
{
    if (file == NULL)
        return;
    if (file->fd >= 0)
        close(file->fd);
    file->fd = -1;
    /* An anonymous file disappears with its descriptor. */
    if (file->temp_path != NULL && !file->anonymous)
        unlink(file->temp_path);
    file->anonymous = 0;
    release_names(file);
}
