/* Atomic file replacement: temporary file + fsync + rename + directory fsync
 * (see atomic_file.h). */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
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

static atomic_uint temp_name_counter;

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

/* Creates "<dir>/.<base>.tmp-<pid>-<n>" with O_EXCL (never follows or reuses
 * an existing file) and mode 0666 & ~umask, like fopen would. mkstemp is not
 * used because it forces mode 0600 and reading the umask is not thread-safe. */
static diffuse_status create_temp(atomic_file *file, const char *path, diffuse_error *err)
{
    const char *slash = strrchr(path, '/');
    size_t dir_length = slash == NULL ? 0 : (size_t)(slash - path) + 1;
    const char *base = path + dir_length;
    size_t size = strlen(path) + 64;
    file->temp_path = malloc(size);
    if (file->temp_path == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a file name");
    for (int attempt = 0; attempt < ATOMIC_FILE_NAME_ATTEMPTS; attempt++) {
        unsigned n = atomic_fetch_add(&temp_name_counter, 1u);
        snprintf(file->temp_path, size, "%.*s.%s.tmp-%ld-%u", (int)dir_length, path, base,
                 (long)getpid(), n);
        file->fd = open(file->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (file->fd >= 0)
            return DIFFUSE_OK;
        if (errno != EEXIST && errno != EINTR)
            break;
    }
    diffuse_status status = diffuse_fail(err, DIFFUSE_ERROR_IO,
                                         "cannot create a temporary file next to '%s': %s",
                                         path, strerror(errno));
    free(file->temp_path);
    file->temp_path = NULL;
    return status;
}

diffuse_status atomic_file_begin(atomic_file *file, const char *path, diffuse_error *err)
{
    if (file == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_INVALID_ARGUMENT, "file must not be NULL");
    file->fd = -1;
    file->temp_path = NULL;
    file->target_path = NULL;
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
    if (status != DIFFUSE_OK) {
        free(file->target_path);
        file->target_path = NULL;
    }
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
            return diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot write '%s': %s", file->temp_path,
                                written < 0 ? strerror(errno) : "no progress");
        p += written;
        size -= (size_t)written;
    }
    return DIFFUSE_OK;
}

/* Makes the rename durable. File systems that cannot sync a directory
 * report EINVAL; there is nothing more to do on those. */
static diffuse_status sync_directory(const char *path, diffuse_error *err)
{
    char *dir = directory_of(path);
    if (dir == NULL)
        return diffuse_fail(err, DIFFUSE_ERROR_NO_MEMORY, "out of memory for a file name");
    diffuse_status status = DIFFUSE_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        status = diffuse_fail(err, DIFFUSE_ERROR_IO,
                              "'%s' was written but syncing directory '%s' failed: %s", path,
                              dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return status;
}

diffuse_status atomic_file_commit(atomic_file *file, diffuse_error *err)
{
    if (file == NULL || file->fd < 0)
        return diffuse_fail(err, DIFFUSE_ERROR_STATE, "atomic file is not open");
    diffuse_status status = DIFFUSE_OK;
    if (fsync(file->fd) != 0)
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot sync '%s': %s", file->temp_path,
                              strerror(errno));
    /* close() reports deferred write errors (NFS, quotas): check it too. */
    int close_result = close(file->fd);
    file->fd = -1;
    if (status == DIFFUSE_OK && close_result != 0)
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot close '%s': %s", file->temp_path,
                              strerror(errno));
    if (status == DIFFUSE_OK && rename(file->temp_path, file->target_path) != 0)
        status = diffuse_fail(err, DIFFUSE_ERROR_IO, "cannot rename '%s' to '%s': %s",
                              file->temp_path, file->target_path, strerror(errno));
    if (status != DIFFUSE_OK) {
        atomic_file_abort(file);
        return status;
    }
    free(file->temp_path);
    file->temp_path = NULL;
    status = sync_directory(file->target_path, err);
    free(file->target_path);
    file->target_path = NULL;
    return status;
}

void atomic_file_abort(atomic_file *file)
{
    if (file == NULL)
        return;
    if (file->fd >= 0)
        close(file->fd);
    file->fd = -1;
    if (file->temp_path != NULL)
        unlink(file->temp_path);
    free(file->temp_path);
    file->temp_path = NULL;
    free(file->target_path);
    file->target_path = NULL;
}
