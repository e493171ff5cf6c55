/* Atomic replacement of a file: readers of `path` see either the complete old
 * contents or the complete new contents, never a mixture, even if the process
 * or the machine dies half-way.
 *
 * How: the bytes go to a fresh temporary file in the SAME directory as the
 * target (rename is only atomic within one file system), which is fsync'ed,
 * closed and then renamed over the target; finally the directory is fsync'ed
 * so the rename itself survives a crash. On any failure the temporary file is
 * removed and the target is left exactly as it was.
 *
 * Killed writers: on Linux the temporary file is created with O_TMPFILE and
 * has no name while it is written; at the commit it is linked under a
 * hidden name ".<name>.tmp-<host>-<pid>-<n>" (linkat through /proc/self/fd)
 * and at once renamed over the target. A writer killed before the commit
 * leaves nothing behind; one killed between the link and the rename (two
 * system calls) leaves the hidden file. Where O_TMPFILE or /proc is not
 * available the hidden file is created at the start instead. Either way
 * every atomic_file_begin first removes the hidden temporaries of the same
 * target whose writer (a process of this machine, by pid) no longer
 * exists, so leftovers of a killed writer last only until the next save to
 * that path. (A dead writer's pid reused by a new process keeps its file
 * until that process is gone too; files of other machines sharing the
 * directory are never touched.)
 *
 * Usage (the abort call is a no-op after a successful commit):
 *
 *     atomic_file file;
 *     diffuse_status status = atomic_file_begin(&file, path, err);
 *     if (status != DIFFUSE_OK) return status;
 *     status = atomic_file_write(&file, bytes, size, err);
 *     if (status == DIFFUSE_OK) status = atomic_file_commit(&file, err);
 *     atomic_file_abort(&file);
 *     return status;
 *
 * Notes:
 *  - The new file is created with mode 0666 filtered by the process umask (as
 *    fopen would); the permissions of a replaced file are not carried over.
 *  - If `path` is a symbolic link, the link itself is replaced by the file.
 *  - A hidden temporary is never mistaken for the target.
 * Thread-safety: one atomic_file per thread; different ones are independent
 * (concurrent writers of the same path: the last rename wins, each file is
 * complete). */
#ifndef DIFFUSE_SRC_ATOMIC_FILE_H
#define DIFFUSE_SRC_ATOMIC_FILE_H

#include <stddef.h>

#include "util/error.h"

typedef struct atomic_file {
    int fd;            /* temporary file, -1 when closed */
    int anonymous;     /* 1: an O_TMPFILE file that has no name yet */
    char *temp_path;   /* its hidden name; NULL once committed or removed */
    size_t temp_size;  /* bytes of temp_path */
    char *prefix;      /* "<dir>/.<name>.tmp-<host>-" */
    char *dir_path;    /* the target's directory */
    char *target_path;
} atomic_file;

/* Tests only (NULL otherwise): called at these points of the commit, so a
 * test can kill the writer there. */
typedef enum atomic_file_stage {
    ATOMIC_FILE_WRITTEN = 0, /* all bytes written, nothing synced or named */
    ATOMIC_FILE_NAMED = 1    /* synced, hidden name given, not yet renamed */
} atomic_file_stage;
extern void (*atomic_file_test_hook)(atomic_file_stage stage);

/* Creates the temporary file next to `path` (after removing stale ones, see
 * "Killed writers"). On failure nothing is left on disk and `file` needs no
 * abort (calling it is harmless).
 * Errors: INVALID_ARGUMENT (NULL/empty path, path ending in '/'),
 * IO (directory missing or not writable; message has strerror),
 * NO_MEMORY. */
diffuse_status atomic_file_begin(atomic_file *file, const char *path, diffuse_error *err);

/* Appends `size` bytes (handles short writes and EINTR).
 * Errors: IO (disk full, file size limit, ...). The caller then aborts. */
diffuse_status atomic_file_write(atomic_file *file, const void *data, size_t size,
                                 diffuse_error *err);

/* fsync + close the temporary file, rename it over the target, fsync the
 * directory. On failure before the rename the temporary file is removed and
 * the target is untouched; if only the final directory fsync fails the new
 * file is already in place (the message says so).
 * Errors: IO. */
diffuse_status atomic_file_commit(atomic_file *file, diffuse_error *err);

/* Closes and removes the temporary file if there still is one, frees the
 * paths. Safe to call any number of times, and after a successful commit. */
void atomic_file_abort(atomic_file *file);

#endif
